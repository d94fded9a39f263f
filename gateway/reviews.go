package gateway

import (
	"net/http"
	"net/url"
	"strconv"

	emporium "github.com/emporium-shop/emporium"
)

// This file serves emporium.Reviews over HTTP: the public list of a
// product's reviews, the caller's own review (POST, and PATCH/DELETE on
// "mine": the caller is the token's user, never a path or body member, so
// nobody reaches another buyer's review), a vendor's reply and an admin's
// removal. Who bought what, who owns the product and who is an admin are
// the service's to say. Review texts are plain text, answered as JSON
// (whose encoder escapes <, > and &) under the gateway's nosniff and
// default-src 'none' headers, so no markup in them runs anywhere.

// mountReviews registers the review routes; all but the public list need
// the account service to authenticate.
func (s *Server) mountReviews() {
	s.Handle("GET /v1/products/{id}/reviews", s.listReviews)
	if s.accounts == nil {
		return
	}
	s.Handle("POST /v1/products/{id}/reviews", s.Authenticated(s.postReview))
	s.Handle("PATCH /v1/products/{id}/reviews/mine", s.Authenticated(s.updateMyReview))
	s.Handle("DELETE /v1/products/{id}/reviews/mine", s.Authenticated(s.deleteMyReview))
	s.Handle("POST /v1/vendor/reviews/{id}/reply", s.Authenticated(s.replyToReview))
	s.Handle("DELETE /v1/admin/reviews/{id}", s.Authenticated(s.removeReview))
}

// reviewOwned are the members of a review only the server writes: present
// in a request body, they are refused by name.
type reviewOwned struct {
	ID               readOnly `json:"id"`
	ProductID        readOnly `json:"product_id"`
	VerifiedPurchase readOnly `json:"verified_purchase"`
	Reply            readOnly `json:"reply"`
	CreatedAt        readOnly `json:"created_at"`
	UpdatedAt        readOnly `json:"updated_at"`
}

type reviewRequest struct {
	emporium.ReviewInput
	reviewOwned
}

func (b reviewRequest) Validate() error {
	if b.Rating == nil {
		return required(field{"rating", ""})
	}
	return nil
}

type reviewUpdateRequest struct {
	emporium.ReviewUpdate
	reviewOwned
}

type replyRequest struct {
	emporium.ReplyInput
	CreatedAt readOnly `json:"created_at"`
}

func (b replyRequest) Validate() error { return required(field{"body", b.Body}) }

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	page, err := pageOf(v)
	if err != nil {
		return err
	}
	q := emporium.ReviewQuery{Page: page}
	if raw := v.Get("rating"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return badQuery([]emporium.FieldError{{Field: "rating", Code: emporium.FieldInvalid, Message: "must be a whole number of stars, 1 to 5"}})
		}
		q.Rating = &n
	}
	list, err := s.reviews.ProductReviews(r.Context(), r.PathValue("id"), q)
	if err != nil {
		return err
	}
	if list.Items == nil {
		list.Items = []emporium.Review{}
	}
	return Respond(w, http.StatusOK, list)
}

// postReview answers 201 with the review and the path of the caller's
// review (reviews/mine) as its Location.
func (s *Server) postReview(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in reviewRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	rev, err := s.reviews.PostReview(r.Context(), p, r.PathValue("id"), in.ReviewInput)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/products/"+url.PathEscape(rev.ProductID)+"/reviews/mine")
	return Respond(w, http.StatusCreated, rev)
}

func (s *Server) updateMyReview(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in reviewUpdateRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	rev, err := s.reviews.UpdateMyReview(r.Context(), p, r.PathValue("id"), in.ReviewUpdate)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, rev)
}

// deleteMyReview answers 204 whether or not the caller had a review: the
// state asked for holds either way, and a retried DELETE must not fail.
func (s *Server) deleteMyReview(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.reviews.DeleteMyReview(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) replyToReview(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in replyRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	rev, err := s.reviews.ReplyToReview(r.Context(), p, r.PathValue("id"), in.ReplyInput)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusCreated, rev)
}

// removeReview answers 204; removing a review that is gone already is
// harmless.
func (s *Server) removeReview(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.reviews.RemoveReview(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
