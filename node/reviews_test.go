package node_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/node"
)

// Issue 12's reviews, over HTTP against a whole node: buyers who received
// a product review it (verified purchase), once each; the product's rating
// follows every post, edit, withdrawal and removal on the product page and
// in search (sort=rating, min_rating); the public list pages newest first
// and filters by stars; the owning vendor replies once; an admin removes an
// abusive review. Every new route refuses another vendor, a buyer and an
// anonymous caller where they may not act (BOLA/BFLA), bad input answers
// its declared problem and changes nothing, and markup in a review stays
// text. Every request and response is checked against openapi.yaml.

// delivered records that the buyer received a line of the product, as the
// order read model does when a vendor delivers it: a purchase document in
// the store's real read model.
func delivered(t *testing.T, n *node.Node, buyerID, productID string) {
	t.Helper()
	orderID := fmt.Sprint("order-", time.Now().UnixNano())
	n.Store.Projections().Put(order.PurchaseCollection, orderID+"/line-1", 1, order.Purchase{
		BuyerProduct: buyerID + "|" + productID, BuyerID: buyerID, ProductID: productID,
		OrderID: orderID, LineID: "line-1", DeliveredAt: time.Now().UTC(),
	})
	require.NoError(t, n.Store.Projections().Flush(t.Context()))
}

// reviewsOf answers the items of a product's review list query.
func reviewsOf(t *testing.T, a *api, productID, query string) []any {
	t.Helper()
	status, body, _ := a.do("GET", "/v1/products/"+productID+"/reviews"+query, "", nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body["items"].([]any)
}

// waitRating waits until a product page shows the rating, failing after a
// deadline.
func waitRating(t *testing.T, a *api, productID string, average, count float64) {
	t.Helper()
	var last any
	actorstest.WaitFor(t, 5*time.Second, fmt.Sprintf("rating %v of %v on the product page", average, count), func() bool {
		status, p, _ := a.do("GET", "/v1/products/"+productID, "", nil)
		require.Equal(t, http.StatusOK, status, "%v", p)
		last = p["rating"]
		return assert.ObjectsAreEqual(map[string]any{"average": average, "count": count}, last)
	})
}

func TestReviewsOverHTTP(t *testing.T) {
	n := openCatalogNode(t, 0)
	a := newAPI(t, n)
	productID, _, vendor := listProductBy(t, n, a, "REV")
	otherProduct, _, otherVendor := listProductBy(t, n, a, "REVX")
	_, admin := userToken(t, n, a, "admin", "admin")
	annID, ann := userToken(t, n, a, "ann")
	bobID, bob := userToken(t, n, a, "bob")
	_, carol := userToken(t, n, a, "carol") // bought nothing
	delivered(t, n, annID, productID)
	delivered(t, n, bobID, productID)
	reviews := "/v1/products/" + productID + "/reviews"
	mine := reviews + "/mine"

	assert.Empty(t, reviewsOf(t, a, productID, ""))

	// Only a buyer who received the product may review it.
	for _, c := range []struct {
		name, token, code string
		status            int
	}{
		{"a buyer who bought nothing", carol, "purchase_required", http.StatusForbidden},
		{"the vendor", vendor, "purchase_required", http.StatusForbidden},
		{"another vendor", otherVendor, "purchase_required", http.StatusForbidden},
		{"anonymous", "", "unauthenticated", http.StatusUnauthorized},
	} {
		status, problem, _ := a.do("POST", reviews, c.token, map[string]any{"rating": 5})
		assert.Equal(t, c.status, status, "%s: %v", c.name, problem)
		assert.Equal(t, c.code, problem["code"], c.name)
	}

	// Ann reviews it; markup in her text is kept as text and never
	// answered as markup.
	status, annReview, h := a.do("POST", reviews, ann, map[string]any{
		"rating": 5, "title": "  <b>Great</b> mug ", "body": "<script>alert(1)</script>\nHolds heat.",
	})
	require.Equal(t, http.StatusCreated, status, "%v", annReview)
	assert.Equal(t, mine, h.Get("Location"))
	assert.Equal(t, true, annReview["verified_purchase"])
	assert.Equal(t, "<b>Great</b> mug", annReview["title"], "trimmed, and stored as typed")
	assert.Equal(t, productID, annReview["product_id"])
	assert.NotContains(t, annReview, "buyer_id", "the author is not shown")
	annReviewID := annReview["id"].(string)
	raw := rawGet(t, a, reviews)
	actorstest.WaitFor(t, 5*time.Second, "ann's review listed", func() bool { raw = rawGet(t, a, reviews); return strings.Contains(raw, annReviewID) })
	assert.NotContains(t, raw, "<script", "markup is escaped in every answer")
	assert.Contains(t, raw, `\u003cscript\u003ealert(1)\u003c/script\u003e`)

	// A second review by the same buyer is a conflict; bad input changes
	// nothing.
	status, problem, _ := a.do("POST", reviews, ann, map[string]any{"rating": 1})
	assert.Equal(t, http.StatusConflict, status, "%v", problem)
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"no rating", map[string]any{"title": "x"}, http.StatusUnprocessableEntity, "rating"},
		{"zero stars", map[string]any{"rating": 0}, http.StatusUnprocessableEntity, "rating"},
		{"six stars", map[string]any{"rating": 6}, http.StatusUnprocessableEntity, "rating"},
		{"half a star", map[string]any{"rating": 4.5}, http.StatusBadRequest, "rating"},
		{"a long title", map[string]any{"rating": 3, "title": strings.Repeat("é", 121)}, http.StatusUnprocessableEntity, "title"},
		{"a long body", map[string]any{"rating": 3, "body": strings.Repeat("é", 4001)}, http.StatusUnprocessableEntity, "body"},
		{"verified_purchase", map[string]any{"rating": 3, "verified_purchase": true}, http.StatusBadRequest, "verified_purchase"},
		{"an unknown member", map[string]any{"rating": 3, "author": "me"}, http.StatusBadRequest, "author"},
	} {
		status, problem, _ := a.do("POST", reviews, bob, c.body)
		assert.Equal(t, c.status, status, "%s: %v", c.name, problem)
		assert.Contains(t, fmt.Sprint(problem["errors"]), c.field, c.name)
	}
	waitRating(t, a, productID, 5, 1)

	status, bobReview, _ := a.do("POST", reviews, bob, map[string]any{"rating": 2})
	require.Equal(t, http.StatusCreated, status, "%v", bobReview)
	bobReviewID := bobReview["id"].(string)
	waitRating(t, a, productID, 3.5, 2)

	// Newest first, by pages, filtered by stars.
	actorstest.WaitFor(t, 5*time.Second, "both reviews listed", func() bool { return len(reviewsOf(t, a, productID, "")) == 2 })
	items := reviewsOf(t, a, productID, "")
	assert.Equal(t, bobReviewID, items[0].(map[string]any)["id"], "newest first")
	status, page, _ := a.do("GET", reviews+"?limit=1", "", nil)
	require.Equal(t, http.StatusOK, status, "%v", page)
	require.Len(t, page["items"], 1)
	status, page2, _ := a.do("GET", reviews+"?limit=1&cursor="+url.QueryEscape(page["next_cursor"].(string)), "", nil)
	require.Equal(t, http.StatusOK, status, "%v", page2)
	assert.Equal(t, annReviewID, page2["items"].([]any)[0].(map[string]any)["id"])
	assert.Nil(t, page2["next_cursor"])
	fives := reviewsOf(t, a, productID, "?rating=5")
	require.Len(t, fives, 1)
	assert.Equal(t, annReviewID, fives[0].(map[string]any)["id"])
	assert.Empty(t, reviewsOf(t, a, productID, "?rating=3"))
	for _, q := range []string{"?rating=6", "?rating=x", "?limit=101"} {
		status, problem, _ := a.do("GET", reviews+q, "", nil)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%s: %v", q, problem)
	}
	assert.Empty(t, reviewsOf(t, a, otherProduct, ""), "another product's list is its own")
	status, _, _ = a.do("GET", "/v1/products/nope/reviews", "", nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = a.do("PATCH", "/v1/products/nope/reviews/mine", ann, map[string]any{"rating": 4})
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = a.do("POST", "/v1/products/nope/reviews", ann, map[string]any{"rating": 4})
	assert.Equal(t, http.StatusNotFound, status)

	// Search sorts by rating and filters by it (the indexer follows).
	actorstest.WaitFor(t, 5*time.Second, "the rating in search", func() bool {
		ids := searchIDs(a, "min_rating=3.5")
		return len(ids) == 1 && ids[0] == productID
	})
	assert.Equal(t, []string{productID, otherProduct}, searchIDs(a, "sort=rating"))
	assert.Empty(t, searchIDs(a, "min_rating=3.6"))
	status, problem, _ = a.do("GET", "/v1/products?min_rating=6", "", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", problem)

	// Bob changes his review through mine; nobody else reaches it.
	status, edited, _ := a.do("PATCH", mine, bob, map[string]any{"rating": 4, "body": "Better than I said."})
	require.Equal(t, http.StatusOK, status, "%v", edited)
	assert.Equal(t, bobReviewID, edited["id"])
	assert.Equal(t, float64(4), edited["rating"])
	waitRating(t, a, productID, 4.5, 2)
	for _, c := range []struct {
		name, token string
		body        map[string]any
		status      int
	}{
		{"carol, who has no review", carol, map[string]any{"rating": 1}, http.StatusNotFound},
		{"the vendor", vendor, map[string]any{"rating": 1}, http.StatusNotFound},
		{"anonymous", "", map[string]any{"rating": 1}, http.StatusUnauthorized},
		{"bob, out of range", bob, map[string]any{"rating": 0}, http.StatusUnprocessableEntity},
		{"bob, a server-owned member", bob, map[string]any{"id": annReviewID}, http.StatusBadRequest},
		{"bob, an unknown member", bob, map[string]any{"buyer_id": "x"}, http.StatusBadRequest},
	} {
		status, problem, _ := a.do("PATCH", mine, c.token, c.body)
		assert.Equal(t, c.status, status, "%s: %v", c.name, problem)
	}
	for _, token := range []string{carol, vendor} {
		status, _, _ := a.do("DELETE", mine, token, nil)
		assert.Equal(t, http.StatusNoContent, status, "deleting one's own nothing touches nobody's")
	}
	status, _, _ = a.do("DELETE", mine, "", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	waitRating(t, a, productID, 4.5, 2)

	// The owning vendor replies once; nobody else may.
	reply := "/v1/vendor/reviews/" + url.PathEscape(annReviewID) + "/reply"
	for _, c := range []struct {
		name, token, code string
		status            int
	}{
		{"another vendor", otherVendor, "not_found", http.StatusNotFound},
		{"a buyer", ann, "forbidden", http.StatusForbidden},
		{"an admin", admin, "forbidden", http.StatusForbidden},
		{"anonymous", "", "unauthenticated", http.StatusUnauthorized},
	} {
		status, problem, _ := a.do("POST", reply, c.token, map[string]any{"body": "Hello"})
		assert.Equal(t, c.status, status, "%s: %v", c.name, problem)
		assert.Equal(t, c.code, problem["code"], c.name)
	}
	status, problem, _ = a.do("POST", "/v1/vendor/reviews/"+url.PathEscape(otherProduct+"~x")+"/reply", vendor, map[string]any{"body": "Hello"})
	assert.Equal(t, http.StatusNotFound, status, "a review of another vendor's product: %v", problem)
	status, problem, _ = a.do("POST", "/v1/vendor/reviews/nonsense/reply", vendor, map[string]any{"body": "Hello"})
	assert.Equal(t, http.StatusNotFound, status, "%v", problem)
	status, problem, _ = a.do("POST", reply, vendor, map[string]any{"body": " "})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", problem)
	status, replied, _ := a.do("POST", reply, vendor, map[string]any{"body": "Thank you, Ann!"})
	require.Equal(t, http.StatusCreated, status, "%v", replied)
	assert.Equal(t, "Thank you, Ann!", replied["reply"].(map[string]any)["body"])
	status, problem, _ = a.do("POST", reply, vendor, map[string]any{"body": "Again"})
	assert.Equal(t, http.StatusConflict, status, "a vendor replies once: %v", problem)
	actorstest.WaitFor(t, 5*time.Second, "the reply listed", func() bool {
		return strings.Contains(fmt.Sprint(reviewsOf(t, a, productID, "?rating=5")), "Thank you, Ann!")
	})

	// An admin removes Ann's review; only an admin may, and the rating
	// follows.
	remove := "/v1/admin/reviews/" + url.PathEscape(annReviewID)
	for _, c := range []struct {
		name, token string
		status      int
	}{
		{"the vendor", vendor, http.StatusForbidden},
		{"the author", ann, http.StatusForbidden},
		{"anonymous", "", http.StatusUnauthorized},
	} {
		status, problem, _ := a.do("DELETE", remove, c.token, nil)
		assert.Equal(t, c.status, status, "%s: %v", c.name, problem)
	}
	waitRating(t, a, productID, 4.5, 2)
	status, _, _ = a.do("DELETE", remove, admin, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = a.do("DELETE", remove, admin, nil)
	assert.Equal(t, http.StatusNoContent, status, "removing again is harmless")
	status, _, _ = a.do("DELETE", "/v1/admin/reviews/"+url.PathEscape(productID+"~nope"), admin, nil)
	assert.Equal(t, http.StatusNotFound, status)
	waitRating(t, a, productID, 4, 1)
	actorstest.WaitFor(t, 5*time.Second, "the removed review unlisted", func() bool { return len(reviewsOf(t, a, productID, "")) == 1 })
	status, problem, _ = a.do("POST", reviews, ann, map[string]any{"rating": 5})
	assert.Equal(t, http.StatusForbidden, status, "a removed author cannot review again: %v", problem)
	assert.Equal(t, "forbidden", problem["code"])

	// Bob withdraws his review and may write a new one.
	status, _, _ = a.do("DELETE", mine, bob, nil)
	require.Equal(t, http.StatusNoContent, status)
	waitRating(t, a, productID, 0, 0)
	status, _, _ = a.do("DELETE", mine, bob, nil)
	assert.Equal(t, http.StatusNoContent, status, "a retried DELETE does not fail")
	actorstest.WaitFor(t, 5*time.Second, "no reviews listed", func() bool { return len(reviewsOf(t, a, productID, "")) == 0 })
	status, again, _ := a.do("POST", reviews, bob, map[string]any{"rating": 3})
	require.Equal(t, http.StatusCreated, status, "%v", again)
	assert.NotEqual(t, bobReviewID, again["id"])
	waitRating(t, a, productID, 3, 1)
}

// rawGet answers a public GET's body as text.
func rawGet(t *testing.T, a *api, path string) string {
	t.Helper()
	resp, err := a.client.Get(a.base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	return string(raw)
}
