package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/mail/mailtest"
	"github.com/emporium-shop/emporium/node"
)

// The server proves the contract (issue 15): for every operation of
// openapi.yaml with a JSON request body, and every limit its schema states,
// a request exactly at the limit is not refused for that member, and one
// past it (a string one character too long, in multi-byte text where the
// member has no pattern; an array one item too many; an integer one above
// its maximum), one without a required member, one with an unknown member
// and one with each server-owned (readOnly) member are refused with a
// declared 400 or 422 problem naming the member, and leave the resource as
// it was. The cases are made from the document: a new operation or member
// is covered by construction, and an operation without a fixture below
// fails the test until it gets one.

// fixture is what it takes to send one operation a valid request: a path
// with real ids, a caller, a valid body that holds every member the schema
// bounds (arrays with one item, maps with one entry), and where to read the
// resource back.
type fixture struct {
	path   string
	token  string
	header map[string]string
	body   map[string]any
	// read is a GET path (as token) whose answer a refused request must
	// leave unchanged; "" where the operation has no resource to read
	// (authentication), said in why.
	read string
	// atValue gives the value at the limit for members whose valid values
	// have a structure no generated text has (a phone number).
	atValue map[string]any
	// leftOut names the members of the schema this body leaves out, with the
	// reason; another fixture of the operation (key "operationId#name")
	// tests them.
	leftOut map[string]string
	// skipAt names the members whose value at the limit cannot be accepted,
	// with the reason: an id, a token or a code must name something that
	// exists, and none is that long. Their value past the limit is still
	// refused.
	skipAt map[string]string
}

func TestContractLimitsAreEnforced(t *testing.T) {
	smtp := mailtest.NewServer(t)
	cfg := testConfig(t)
	cfg.SMTPURL = smtp.URL()
	cfg.SandboxWebhookSecret = "whsec_test"
	n := openNode(t, cfg)
	a := newAPI(t, n)
	f := contractFixtures(t, n, a)

	doc := gatewaytest.Spec(t)
	covered := 0
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			if op.RequestBody == nil || strings.HasPrefix(path, "/v1/webhooks/") {
				continue // webhooks take the provider's body raw (DESIGN §8)
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			require.NotNil(t, mt, "%s %s: a request body that is not JSON", method, path)
			var names []string
			for name := range f {
				if name == op.OperationID || strings.HasPrefix(name, op.OperationID+"#") {
					names = append(names, name)
				}
			}
			if len(names) == 0 {
				t.Errorf("%s %s (%s) has a request body but no fixture in contractFixtures: add one, so that its limits are tested", method, path, op.OperationID)
				continue
			}
			sort.Strings(names)
			for _, name := range names {
				covered++
				t.Run(name, func(t *testing.T) {
					checkOperation(t, a, method, op, mt.Schema.Value, f[name])
				})
			}
		}
	}
	assert.Equal(t, len(f), covered, "every fixture is for an operation of the contract")
}

// limitCase is one request a case sends: body, the member it is about,
// and whether it must be refused.
type limitCase struct {
	name    string
	body    map[string]any
	field   string
	refused bool
}

func checkOperation(t *testing.T, a *api, method string, op *openapi3.Operation, schema *openapi3.Schema, fx fixture) {
	cases := limitCases(t, schema, fx)
	require.NotEmpty(t, cases)
	for _, c := range cases {
		var before []byte
		if c.refused && fx.read != "" {
			before = readBack(t, a, fx)
		}
		status, problem := send(t, a, method, fx, c.body)
		if !c.refused {
			if status >= 400 {
				for _, fe := range fieldErrors(problem) {
					assert.NotEqual(t, c.field, fe["field"], "%s: the value at the limit was refused for %s: %v", c.name, c.field, problem)
				}
			}
			continue
		}
		if !assert.Contains(t, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}, status, "%s: %v", c.name, problem) {
			continue
		}
		assert.NotNil(t, op.Responses.Value(strconv.Itoa(status)), "%s: %d is not declared", c.name, status)
		// A missing object may be named by the member inside it that it
		// lacks first (payment.provider for payment).
		assert.True(t, slices.ContainsFunc(fieldErrors(problem), func(fe map[string]any) bool {
			name, _ := fe["field"].(string)
			return name == c.field || strings.HasPrefix(name, c.field+".")
		}), "%s: the problem does not name %s: %v", c.name, c.field, problem)
		if fx.read != "" {
			assert.JSONEq(t, string(before), string(readBack(t, a, fx)), "%s: a refused request changed the resource", c.name)
		}
	}
}

// limitCases makes the cases of one request schema from the fixture's
// valid body.
func limitCases(t *testing.T, schema *openapi3.Schema, fx fixture) []limitCase {
	var cases []limitCase
	add := func(name, field string, refused bool, body map[string]any) {
		cases = append(cases, limitCase{name: name, field: field, refused: refused, body: body})
	}
	var walk func(path []any, s *openapi3.Schema, value any)
	walk = func(path []any, s *openapi3.Schema, value any) {
		field := fieldName(path)
		switch {
		case s.Type.Includes(openapi3.TypeString) && s.MaxLength != nil:
			n := int(*s.MaxLength)
			if at, ok := fx.atValue[field]; ok {
				add(field+" at the limit", field, false, with(fx.body, path, at))
			} else if why, skip := fx.skipAt[field]; !skip {
				if v, ok := text(s, n, value); ok {
					add(fmt.Sprintf("%s at the limit (%d characters, %d bytes)", field, n, len(v)), field, false, with(fx.body, path, v))
				} else {
					t.Errorf("%s: no value of %d characters matches %q; give one in atValue", field, n, s.Pattern)
				}
			} else {
				t.Logf("%s at the limit is not sent: %s", field, why)
			}
			over, _ := text(&openapi3.Schema{}, n+1, nil)
			if s.Pattern != "" {
				if v, ok := text(s, n, value); ok {
					r, _ := utf8.DecodeLastRuneInString(v)
					over = v + string(r)
				}
			}
			add(fmt.Sprintf("%s one character past the limit (%d)", field, n+1), field, true, with(fx.body, path, over))
		case s.Type.Includes(openapi3.TypeInteger) && s.Max != nil:
			limit := int64(*s.Max)
			add(fmt.Sprintf("%s at its maximum %d", field, limit), field, false, with(fx.body, path, limit))
			add(fmt.Sprintf("%s one above its maximum", field), field, true, with(fx.body, path, limit+1))
		case s.Type.Includes(openapi3.TypeArray) && s.MaxItems != nil:
			items, _ := value.([]any)
			n := int(*s.MaxItems)
			if len(items) == 0 {
				t.Errorf("the fixture's %s is empty: give it an item, so that its limits are tested", field)
				return
			}
			at := make([]any, n)
			for i := range at {
				at[i] = distinct(items[0], i)
			}
			add(fmt.Sprintf("%s with %d items", field, n), field, false, with(fx.body, path, at))
			add(fmt.Sprintf("%s with %d items", field, n+1), field, true, with(fx.body, path, append(at, distinct(items[0], n))))
		}
		if s.Items != nil && s.Items.Value != nil {
			if items, _ := value.([]any); len(items) > 0 {
				walk(append(slices.Clone(path), 0), s.Items.Value, items[0])
			}
		}
		if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
			if m, _ := value.(map[string]any); len(m) > 0 {
				k := slices.Sorted(mapsKeys(m))[0]
				walk(append(slices.Clone(path), k), ap.Value, m[k])
			}
		}
		obj, _ := value.(map[string]any)
		for _, name := range slices.Sorted(mapsKeys(s.Properties)) {
			p := s.Properties[name].Value
			if p == nil || p.ReadOnly {
				continue
			}
			v, present := obj[name]
			if !present {
				if _, ok := fx.leftOut[fieldName(append(slices.Clone(path), name))]; !ok && bounded(p) {
					t.Errorf("the fixture's body lacks %s, which the contract bounds: add it, so that its limits are tested", fieldName(append(slices.Clone(path), name)))
				}
				continue
			}
			walk(append(slices.Clone(path), name), p, v)
		}
		for _, name := range s.Required {
			if _, present := obj[name]; present {
				p := append(slices.Clone(path), name)
				add(fieldName(p)+" missing", fieldName(p), true, without(fx.body, p))
			}
		}
	}
	walk(nil, schema, fx.body)

	add("an unknown member", "unexpected_member", true, with(fx.body, []any{"unexpected_member"}, "x"))
	for _, name := range slices.Sorted(mapsKeys(schema.Properties)) {
		if p := schema.Properties[name].Value; p != nil && p.ReadOnly {
			add(name+", which the server owns", name, true, with(fx.body, []any{name}, "x"))
		}
	}
	return cases
}

// bounded reports whether a schema states a limit the cases test.
func bounded(s *openapi3.Schema) bool {
	if s.Type == nil {
		return false
	}
	return s.MaxLength != nil || s.MaxItems != nil || s.Max != nil || s.Type.Includes(openapi3.TypeObject) && len(s.Properties) > 0
}

// alphabets are the characters a text at a limit is made of, tried in
// order: multi-byte first, since limits count characters, not bytes.
var alphabets = []string{"éàüøçñßœ", "abcdefghij", "ABCDEFGHIJ", "0123456789"}

// text makes a value of s of exactly n characters: of the first alphabet
// whose text matches s's pattern, or an email address when the pattern
// wants one, or a URL for a URI. base is the fixture's value, used as it is
// when it is already n characters long (a currency code, a country).
func text(s *openapi3.Schema, n int, base any) (string, bool) {
	if b, ok := base.(string); ok && utf8.RuneCountInString(b) == n {
		return b, true
	}
	var re *regexp.Regexp
	if s.Pattern != "" {
		re = regexp.MustCompile(s.Pattern)
	}
	switch {
	case re != nil && strings.Contains(s.Pattern, "@"):
		return email(n), true
	case s.Format == "uri":
		const prefix = "https://img.example/"
		return prefix + strings.Repeat("a", n-len(prefix)), true
	}
	for _, alphabet := range alphabets {
		var b strings.Builder
		runes := []rune(alphabet)
		for i := range n {
			b.WriteRune(runes[i%len(runes)])
		}
		if v := b.String(); re == nil || re.MatchString(v) {
			return v, true
		}
	}
	return "", false
}

// email makes a well-formed address of n characters: a 64-character local
// part and a domain of labels of at most 63.
func email(n int) string {
	local := strings.Repeat("a", min(64, n-6))
	rest := n - len(local) - 1 - len(".com")
	var labels []string
	for rest > 0 {
		l := min(63, rest)
		if rest-l == 1 { // a label cannot be empty
			l--
		}
		labels = append(labels, strings.Repeat("b", l))
		rest -= l + 1
	}
	return local + "@" + strings.Join(labels, ".") + ".com"
}

// distinct is a copy of an array item made different for index i where
// that is simple (strings), so that an array at its limit is not refused
// for holding duplicates of a string.
func distinct(item any, i int) any {
	if s, ok := item.(string); ok {
		return fmt.Sprintf("%s%d", s, i)
	}
	return deepCopy(item)
}

// fieldName renders a member's path as problems name it:
// variants[0].options.color.
func fieldName(path []any) string {
	var b strings.Builder
	for _, seg := range path {
		switch seg := seg.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", seg)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
	}
	return b.String()
}

func deepCopy(v any) any {
	raw, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

// with is a copy of body with the member at path set to v.
func with(body map[string]any, path []any, v any) map[string]any {
	out := deepCopy(body).(map[string]any)
	var cur any = out
	for i, seg := range path {
		last := i == len(path)-1
		switch seg := seg.(type) {
		case string:
			m := cur.(map[string]any)
			if last {
				m[seg] = v
			} else {
				cur = m[seg]
			}
		case int:
			s := cur.([]any)
			if last {
				s[seg] = v
			} else {
				cur = s[seg]
			}
		}
	}
	return out
}

// without is a copy of body without the member at path.
func without(body map[string]any, path []any) map[string]any {
	out := deepCopy(body).(map[string]any)
	var cur any = out
	for _, seg := range path[:len(path)-1] {
		switch seg := seg.(type) {
		case string:
			cur = cur.(map[string]any)[seg]
		case int:
			cur = cur.([]any)[seg]
		}
	}
	delete(cur.(map[string]any), path[len(path)-1].(string))
	return out
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func fieldErrors(problem map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := problem["errors"].([]any)
	for _, fe := range list {
		if m, ok := fe.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// send sends one request of the fixture with body, waiting out a rate
// limit (the cases send many requests from one address), and answers the
// status and the decoded body.
func send(t *testing.T, a *api, method string, fx fixture, body map[string]any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	for try := 0; ; try++ {
		req, err := http.NewRequest(method, a.base+fx.path, bytes.NewReader(raw))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if fx.token != "" {
			req.Header.Set("Authorization", "Bearer "+fx.token)
		}
		for k, v := range fx.header {
			req.Header.Set(k, v)
		}
		if _, ok := fx.header["Idempotency-Key"]; ok {
			req.Header.Set("Idempotency-Key", fmt.Sprintf("limits-%d", time.Now().UnixNano()))
		}
		resp, err := a.client.Do(req)
		require.NoError(t, err)
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if resp.StatusCode == http.StatusTooManyRequests && try < 5 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(min(max(wait, 1), 5)) * time.Second)
			continue
		}
		decoded := map[string]any{}
		if strings.Contains(resp.Header.Get("Content-Type"), "json") && len(out) > 0 {
			require.NoError(t, json.Unmarshal(out, &decoded), "%s", out)
		}
		return resp.StatusCode, decoded
	}
}

// readBack answers the fixture's resource, as its owner reads it, once two
// reads a moment apart agree: lists are read models, which follow the
// accepted requests before (at the limit) within moments.
func readBack(t *testing.T, a *api, fx fixture) []byte {
	t.Helper()
	last := readOnce(t, a, fx)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		next := readOnce(t, a, fx)
		if bytes.Equal(next, last) {
			return next
		}
		last = next
	}
	t.Fatalf("GET %s does not settle", fx.read)
	return nil
}

func readOnce(t *testing.T, a *api, fx fixture) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+fx.read, nil)
	require.NoError(t, err)
	if fx.token != "" {
		req.Header.Set("Authorization", "Bearer "+fx.token)
	}
	resp, err := a.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", fx.read, raw)
	return raw
}

// contractFixtures sets up the users and objects the operations need and
// answers a fixture per operationId.
func contractFixtures(t *testing.T, n *node.Node, a *api) map[string]fixture {
	t.Helper()
	_, admin := userToken(t, n, a, "admin", "admin")
	productID, skus, vendor := listProductBy(t, n, a, "LIM")
	buyer := longPasswordUser(t, n, a, "buyer")
	addr := addAddress(t, a, buyer)
	fill(t, a, buyer, map[string]int{skus[0]: 1})
	status, cart, _ := a.do("GET", "/v1/cart", buyer, nil)
	require.Equal(t, http.StatusOK, status, "%v", cart)
	lineID := cart["lines"].([]any)[0].(map[string]any)["line_id"].(string)
	status, wl, _ := a.do("POST", "/v1/wishlists", buyer, map[string]any{"name": "Gifts"})
	require.Equal(t, http.StatusCreated, status, "%v", wl)
	wishlist := wl["id"].(string)
	status, cat, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Limits"})
	require.Equal(t, http.StatusCreated, status, "%v", cat)
	category := cat["id"].(string)
	status, parent, _ := a.do("POST", "/v1/admin/categories", admin, map[string]any{"name": "Limits parent"})
	require.Equal(t, http.StatusCreated, status, "%v", parent)
	newcomer := longPasswordUser(t, n, a, "newcomer")
	// Two confirmed orders of the vendor's line: one to ship and deliver,
	// one for an admin to cancel and refund.
	_, shopper := userToken(t, n, a, "shopper")
	shopAddr := addAddress(t, a, shopper)
	placed := func(key string) (id, line string) {
		fill(t, a, shopper, map[string]int{skus[1]: 1})
		status, o := a.order(shopper, key, map[string]any{"shipping_address_id": shopAddr, "shipping_method": "standard",
			"payment": map[string]any{"provider": "sandbox", "token": "tok_visa"}})
		require.Equal(t, http.StatusCreated, status, "%v", o)
		require.Equal(t, "confirmed", o["status"], "%v", o)
		return o["id"].(string), o["lines"].([]any)[0].(map[string]any)["line_id"].(string)
	}
	shipped, shippedLine := placed("limits-ship")
	adjusted, adjustedLine := placed("limits-adjust")
	actorstest.WaitFor(t, 5*time.Second, "the vendor's order", func() bool {
		status, _, _ := a.do("GET", "/v1/vendor/orders/"+shipped, vendor, nil)
		return status == http.StatusOK
	})
	noLineAtLimit := "a line id names a line of the order, and none is that long"
	// Reviews: a reviewer who received the product, with a review to
	// change; a second who has none yet (the limits of a new review), and
	// a review for the vendor's reply.
	reviewer, reviewerToken := userToken(t, n, a, "reviewer")
	delivered(t, n, reviewer, productID)
	status, rev, _ := a.do("POST", "/v1/products/"+productID+"/reviews", reviewerToken, map[string]any{"rating": 4})
	require.Equal(t, http.StatusCreated, status, "%v", rev)
	poster, posterToken := userToken(t, n, a, "poster")
	delivered(t, n, poster, productID)

	address := map[string]any{
		"full_name": "Ada Buyer", "line1": "1 Market St", "line2": "Suite 5", "city": "San Francisco", "region": "CA",
		"postal_code": "94105", "country": "US", "phone": "+14155550123", "is_default_shipping": false, "is_default_billing": false,
	}
	phone := map[string]any{"phone": "+1 2 3 4 5 6 7 8 9 1 2 3 4 5 6"} // 15 digits and 14 separators: the longest valid
	product := map[string]any{
		"title": "Stoneware Cup", "description": "A cup.", "brand": "Kiln", "category_id": category, "currency": "USD",
		"images":     []any{map[string]any{"url": "https://img.example/cup.jpg", "alt": "A cup"}},
		"attributes": map[string]any{"material": "stoneware"},
		"options":    []any{map[string]any{"name": "color", "values": []any{"blue"}}},
		"variants":   []any{map[string]any{"sku": "LIM-CUP-BLUE", "options": map[string]any{"color": "blue"}, "price": 900, "compare_at_price": 1200}},
		"status":     "draft",
	}
	update := deepCopy(product).(map[string]any)
	delete(update, "currency")
	update["expected_version"] = 0
	update["variants"] = []any{
		map[string]any{"sku": skus[0], "options": map[string]any{"color": "blue"}, "price": 1500, "compare_at_price": 2000},
		map[string]any{"sku": skus[1], "options": map[string]any{"color": "red"}, "price": 1700},
	}
	update["options"] = []any{map[string]any{"name": "color", "values": []any{"blue", "red"}}}
	noTokenAtLimit := "no valid token is that long; the limit bounds the lookup"
	noCodeAtLimit := "no valid code is that long"
	unknownID := "an id names an object that exists, and none has an id that long"

	reviewRead := "/v1/products/" + productID + "/reviews"
	return map[string]fixture{
		// A new review's cases are sent by a buyer without one: the first
		// accepted makes one, and the later ones are refused by the rule
		// (409, naming no member) or the limit, never changing it.
		"postReview": {path: reviewRead, token: posterToken, read: reviewRead,
			body: map[string]any{"rating": 5, "title": "Good mug", "body": "Holds heat."}},
		"updateMyReview": {path: reviewRead + "/mine", token: reviewerToken, read: reviewRead,
			body: map[string]any{"rating": 3, "title": "Fine mug", "body": "Holds heat, mostly."}},
		"replyToReview": {path: "/v1/vendor/reviews/" + url.PathEscape(rev["id"].(string)) + "/reply", token: vendor, read: reviewRead,
			body: map[string]any{"body": "Thank you!"}},
		"signup":             {path: "/v1/auth/signup", body: map[string]any{"username": "limits_user", "email": "limits@example.com", "password": "correct horse battery staple"}},
		"verifyEmail":        {path: "/v1/auth/verify-email", body: map[string]any{"token": "not-a-token"}, skipAt: map[string]string{"token": noTokenAtLimit}},
		"resendVerification": {path: "/v1/auth/resend-verification", body: map[string]any{"email": "limits@example.com"}},
		"login":              {path: "/v1/auth/login", body: map[string]any{"email": "nobody@example.com", "password": "correct horse battery staple"}},
		"loginMFA":           {path: "/v1/auth/login/mfa", body: map[string]any{"mfa_token": "not-a-token", "code": "123456"}, skipAt: map[string]string{"mfa_token": noTokenAtLimit}},
		"refreshTokens":      {path: "/v1/auth/refresh", body: map[string]any{"refresh_token": "not-a-token"}},
		"logout":             {path: "/v1/auth/logout", body: map[string]any{"refresh_token": "not-a-token"}},
		"forgotPassword":     {path: "/v1/auth/password/forgot", body: map[string]any{"email": "limits@example.com"}},
		"resetPassword":      {path: "/v1/auth/password/reset", body: map[string]any{"token": "not-a-token", "password": "correct horse battery staple"}, skipAt: map[string]string{"token": noTokenAtLimit}},
		"unlockMFA":          {path: "/v1/auth/mfa/unlock", body: map[string]any{"token": "not-a-token"}, skipAt: map[string]string{"token": noTokenAtLimit}},
		"updateMe": {path: "/v1/me", token: buyer, read: "/v1/me", body: map[string]any{"name": "Ada", "phone": "+14155550123"},
			atValue: phone, leftOut: map[string]string{
				"email":            "an email change mails the account, and its mails are rate-limited: updateMe#email sends few",
				"current_password": "it goes with email"}},
		"updateMe#email": {path: "/v1/me", token: newcomer, read: "/v1/me", body: map[string]any{"email": "ada.new@example.com", "current_password": longPassword},
			leftOut: map[string]string{"name": "updateMe tests it", "phone": "updateMe tests it"}},
		"beginTOTP":      {path: "/v1/me/mfa/totp", token: newcomer, read: "/v1/me", body: map[string]any{"password": longPassword}},
		"disableTOTP":    {path: "/v1/me/mfa/totp", token: newcomer, read: "/v1/me", body: map[string]any{"password": longPassword, "code": "123456"}},
		"confirmTOTP":    {path: "/v1/me/mfa/totp/confirm", token: newcomer, read: "/v1/me", body: map[string]any{"code": "123456"}, skipAt: map[string]string{"code": noCodeAtLimit}},
		"addAddress":     {path: "/v1/me/addresses", token: buyer, read: "/v1/me/addresses", body: address, atValue: phone},
		"replaceAddress": {path: "/v1/me/addresses/" + addr, token: buyer, read: "/v1/me/addresses/" + addr, body: address, atValue: phone},
		"createCategory": {path: "/v1/admin/categories", token: admin, read: "/v1/categories", body: map[string]any{"name": "Cups", "slug": "cups", "parent_id": category},
			skipAt: map[string]string{"parent_id": unknownID}},
		"updateCategory": {path: "/v1/admin/categories/" + category, token: admin, read: "/v1/categories", body: map[string]any{"name": "Limits", "slug": "limits", "parent_id": parent["id"]},
			atValue: map[string]any{"slug": strings.Repeat("z", 100)}, skipAt: map[string]string{"parent_id": unknownID}}, // not the slug createCategory's case took
		"becomeVendor": {path: "/v1/vendors", token: buyer, read: "/v1/me", body: map[string]any{"store_name": "Limits Store", "description": "We sell limits."}},
		"createProduct": {path: "/v1/vendor/products", token: vendor, read: "/v1/vendor/products", header: map[string]string{"Idempotency-Key": ""}, body: product,
			skipAt: map[string]string{"category_id": unknownID, "variants[0].options.color": "a variant's option value is one of its option's values (options[0].values[0] at the limit is sent)"}},
		"updateProduct": {path: "/v1/vendor/products/" + productID, token: vendor, read: "/v1/vendor/products/" + productID, header: map[string]string{"Idempotency-Key": ""}, body: update,
			skipAt: map[string]string{"category_id": unknownID, "variants[0].sku": "a product's variants keep their SKUs",
				"variants[0].options.color": "a variant's option value is one of its option's values (options[0].values[0] at the limit is sent)"}},
		"setStock": {path: "/v1/vendor/products/" + productID + "/variants/" + skus[1] + "/stock", token: vendor, read: "/v1/vendor/products/" + productID, body: map[string]any{"on_hand": 3}},
		"addCartItem": {path: "/v1/cart/items", token: buyer, read: "/v1/cart", header: map[string]string{"Idempotency-Key": ""}, body: map[string]any{"sku": skus[1], "quantity": 1},
			skipAt: map[string]string{"sku": "a SKU names a variant on sale, and none is that long"}},
		"updateCartLine": {path: "/v1/cart/items/" + lineID, token: buyer, read: "/v1/cart", body: map[string]any{"quantity": 1}},
		"createWishlist": {path: "/v1/wishlists", token: buyer, read: "/v1/wishlists", body: map[string]any{"name": "Birthday"}},
		"renameWishlist": {path: "/v1/wishlists/" + wishlist, token: buyer, read: "/v1/wishlists/" + wishlist, body: map[string]any{"name": "Gifts"},
			atValue: map[string]any{"name": strings.Repeat("ü", 60)}}, // not the name createWishlist's case took
		"addWishlistItem": {path: "/v1/wishlists/" + wishlist + "/items", token: buyer, read: "/v1/wishlists/" + wishlist, body: map[string]any{"product_id": productID, "sku": skus[0]},
			skipAt: map[string]string{"product_id": unknownID, "sku": "a SKU names one of the product's variants"}},
		"previewCheckout": {path: "/v1/checkout/preview", token: buyer, read: "/v1/cart", body: map[string]any{"shipping_address_id": addr, "shipping_method": "standard"},
			skipAt: map[string]string{"shipping_address_id": unknownID, "shipping_method": unknownID}},
		// The expected total is off by design: every request the limits
		// let through is answered 409 price_changed, so none reserves
		// stock or charges.
		"placeOrder": {path: "/v1/orders", token: buyer, read: "/v1/orders", header: map[string]string{"Idempotency-Key": ""}, body: map[string]any{
			"shipping_address_id": addr, "billing_address_id": addr, "shipping_method": "standard",
			"payment":        map[string]any{"provider": "sandbox", "token": "tok_visa", "return_url": "https://shop.example/return"},
			"expected_total": map[string]any{"amount": 1, "currency": "USD"},
		}, skipAt: map[string]string{"shipping_address_id": unknownID, "billing_address_id": unknownID, "shipping_method": unknownID, "payment.provider": unknownID,
			"payment.token": "the sandbox knows five test tokens, none that long"}},
		"shipVendorOrder": {path: "/v1/vendor/orders/" + shipped + "/ship", token: vendor, read: "/v1/vendor/orders/" + shipped,
			header: map[string]string{"Idempotency-Key": ""}, body: map[string]any{"carrier": "UPS", "tracking_number": "1Z999AA1", "lines": []any{shippedLine}},
			skipAt: map[string]string{"lines[0]": noLineAtLimit}},
		"deliverVendorOrder": {path: "/v1/vendor/orders/" + shipped + "/deliver", token: vendor, read: "/v1/vendor/orders/" + shipped,
			header: map[string]string{"Idempotency-Key": ""}, body: map[string]any{"lines": []any{shippedLine}},
			skipAt: map[string]string{"lines[0]": noLineAtLimit}},
		"adminCancelOrder": {path: "/v1/admin/orders/" + adjusted + "/cancel", token: admin, read: "/v1/admin/orders/" + adjusted,
			header: map[string]string{"Idempotency-Key": ""}, body: map[string]any{"reason": "Suspected fraud"}},
		"refundOrder": {path: "/v1/admin/orders/" + adjusted + "/refund", token: admin, read: "/v1/admin/orders/" + adjusted,
			header: map[string]string{"Idempotency-Key": ""}, body: map[string]any{
				"amount": map[string]any{"amount": 100, "currency": "USD"}, "lines": []any{adjustedLine}, "reason": "Damaged in transit"},
			skipAt: map[string]string{"lines[0]": noLineAtLimit}},
	}
}

// longPassword is a password exactly at the limit, in multi-byte text, so
// that a request with the right password at the limit can be sent.
var longPassword = strings.Repeat("pässwörd", 16)

// longPasswordUser creates a verified account whose password is
// longPassword and answers its access token.
func longPasswordUser(t *testing.T, n *node.Node, a *api, name string) string {
	t.Helper()
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e8)
	email := name + suffix + "@example.com"
	_, err := n.Accounts.CreateUser(t.Context(), name+"_"+suffix, email, longPassword, nil)
	require.NoError(t, err)
	status, body, _ := a.do("POST", "/v1/auth/login", "", map[string]any{"email": email, "password": longPassword})
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body["access_token"].(string)
}

// TestContractLimitsAreTheCode ties every limit a request schema of
// openapi.yaml states to the constant the server enforces it with, so that
// the two cannot drift apart: a limit added to the contract fails here until
// it names its constant.
func TestContractLimitsAreTheCode(t *testing.T) {
	doc := gatewaytest.Spec(t)
	stated := map[string]float64{}
	var collect func(where string, s *openapi3.Schema, seen map[*openapi3.Schema]bool)
	collect = func(where string, s *openapi3.Schema, seen map[*openapi3.Schema]bool) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if s.MaxLength != nil {
			stated[where+" maxLength"] = float64(*s.MaxLength)
		}
		if s.MaxItems != nil {
			stated[where+" maxItems"] = float64(*s.MaxItems)
		}
		if s.Max != nil {
			stated[where+" maximum"] = *s.Max
		}
		if s.MaxProps != nil {
			stated[where+" maxProperties"] = float64(*s.MaxProps)
		}
		if s.PropertyNames != nil {
			collect(where+"<>", s.PropertyNames.Value, seen)
		}
		for name, p := range s.Properties {
			collect(where+"."+name, p.Value, seen)
		}
		if s.Items != nil {
			collect(where+"[]", s.Items.Value, seen)
		}
		if ap := s.AdditionalProperties.Schema; ap != nil {
			collect(where+"{}", ap.Value, seen)
		}
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		for _, op := range doc.Paths.Value(path).Operations() {
			if op.RequestBody == nil || strings.HasPrefix(path, "/v1/webhooks/") {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			name := strings.TrimPrefix(mt.Schema.Ref, "#/components/schemas/")
			collect(name, mt.Schema.Value, map[*openapi3.Schema]bool{})
		}
	}
	var unknown []string
	for where, n := range stated {
		want, ok := codeLimits[where]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%s = %v", where, n))
			continue
		}
		assert.Equal(t, float64(want), n, "%s: the contract says %v, the code %v", where, n, want)
	}
	sort.Strings(unknown)
	assert.Empty(t, unknown, "limits of openapi.yaml that name no constant in codeLimits:\n%s", strings.Join(unknown, "\n"))
	for where := range codeLimits {
		assert.Contains(t, stated, where, "codeLimits names a limit openapi.yaml does not state")
	}
}
