package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	emporium "github.com/emporium-shop/emporium"
)

// This file serves emporium.Catalog over HTTP (DESIGN §8): the category tree,
// vendors' stores, vendors' products and stock, and the public browse and
// search. Handlers decode and present; what a valid product is, who may
// change it and what a search matches are the service's to say.

// mountCatalog registers the catalogue routes. The vendor and admin routes
// need a bearer token, so they exist only when the gateway authenticates.
func (s *Server) mountCatalog() {
	s.Handle("GET /v1/categories", s.listCategories)
	s.Handle("GET /v1/vendors/{id}", s.getVendor)
	s.Handle("GET /v1/products", s.searchProducts)
	s.Handle("GET /v1/products/{id}", s.getProduct)
	if s.accounts == nil {
		return
	}
	s.Handle("POST /v1/admin/categories", s.Authenticated(s.createCategory))
	s.Handle("PATCH /v1/admin/categories/{id}", s.Authenticated(s.updateCategory))
	s.Handle("DELETE /v1/admin/categories/{id}", s.Authenticated(s.deleteCategory))
	s.Handle("POST /v1/vendors", s.Authenticated(s.becomeVendor))
	s.Handle("POST /v1/vendor/products", s.Authenticated(s.createProduct))
	s.Handle("GET /v1/vendor/products", s.Authenticated(s.listVendorProducts))
	s.Handle("GET /v1/vendor/products/{id}", s.Authenticated(s.getVendorProduct))
	s.Handle("PATCH /v1/vendor/products/{id}", s.Authenticated(s.updateProduct))
	s.Handle("DELETE /v1/vendor/products/{id}", s.Authenticated(s.archiveProduct))
	s.Handle("PUT /v1/vendor/products/{id}/variants/{sku}/stock", s.Authenticated(s.setStock))
}

// Categories.

func (s *Server) listCategories(w http.ResponseWriter, r *http.Request) error {
	roots, err := s.catalog.Categories(r.Context())
	if err != nil {
		return err
	}
	if roots == nil {
		roots = []emporium.Category{}
	}
	return Respond(w, http.StatusOK, struct {
		Items []emporium.Category `json:"items"`
	}{roots})
}

// categoryRequest is a category as a client sends it; id and children are
// the server's.
type categoryRequest struct {
	emporium.CategoryUpdate
	ID       readOnly `json:"id"`
	Children readOnly `json:"children"`
}

// newCategoryRequest is the body of POST /v1/admin/categories: a category
// as a PATCH sends it, with its name required.
type newCategoryRequest struct{ categoryRequest }

func (b newCategoryRequest) Validate() error { return required(field{"name", deref(b.Name)}) }

func (s *Server) createCategory(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var body newCategoryRequest
	if err := Decode(r, &body); err != nil {
		return err
	}
	in := body.CategoryUpdate
	c, err := s.catalog.CreateCategory(r.Context(), p, emporium.CategoryInput{
		Name: deref(in.Name), Slug: deref(in.Slug), ParentID: deref(in.ParentID),
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/categories#"+url.PathEscape(c.ID))
	return Respond(w, http.StatusCreated, c)
}

func (s *Server) updateCategory(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in categoryRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	c, err := s.catalog.UpdateCategory(r.Context(), p, r.PathValue("id"), in.CategoryUpdate)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, c)
}

func (s *Server) deleteCategory(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.catalog.DeleteCategory(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Vendors.

// vendorRequest opens a store; the rest of a store page is the server's.
type vendorRequest struct {
	emporium.VendorInput
	ID           readOnly `json:"id"`
	ProductCount readOnly `json:"product_count"`
	JoinedAt     readOnly `json:"joined_at"`
}

func (b vendorRequest) Validate() error { return required(field{"store_name", b.StoreName}) }

func (s *Server) becomeVendor(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in vendorRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	v, err := s.catalog.BecomeVendor(r.Context(), p, in.VendorInput)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/vendors/"+url.PathEscape(v.ID))
	return Respond(w, http.StatusCreated, v)
}

func (s *Server) getVendor(w http.ResponseWriter, r *http.Request) error {
	v, err := s.catalog.Vendor(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, v)
}

// Vendors' products.

// productOwned are the members of a product only the server writes:
// present in a request body, they are refused by name.
type productOwned struct {
	ID        readOnly `json:"id"`
	VendorID  readOnly `json:"vendor_id"`
	Rating    readOnly `json:"rating"`
	CreatedAt readOnly `json:"created_at"`
	UpdatedAt readOnly `json:"updated_at"`
	Version   readOnly `json:"version"`
}

type productRequest struct {
	emporium.ProductInput
	productOwned
}

func (b productRequest) Validate() error {
	return required(field{"title", b.Title}, field{"currency", b.Currency})
}

type productUpdateRequest struct {
	emporium.ProductUpdate
	productOwned
}

// Validate bounds expected_version to the integers every JSON client reads
// exactly; whether it is the product's version is the product's to say.
func (b productUpdateRequest) Validate() error {
	var v validation
	v.integer("expected_version", int64(min(b.ExpectedVersion, MaxJSONInteger+1)), 0, MaxJSONInteger)
	return v.err()
}

// createProduct lists a product for the calling vendor and answers 201
// with its Location. With an Idempotency-Key a retry answers the product
// the first request created.
func (s *Server) createProduct(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var in productRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	var prod emporium.Product
	err = s.idempotent(r, p, key, in, func() (err error) {
		prod, err = s.catalog.CreateProduct(r.Context(), p, in.ProductInput, key)
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/vendor/products/"+url.PathEscape(prod.ID))
	return Respond(w, http.StatusCreated, prod)
}

func (s *Server) listVendorProducts(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	page, err := pageOf(r.URL.Query())
	if err != nil {
		return err
	}
	list, err := s.catalog.VendorProducts(r.Context(), p, page)
	if err != nil {
		return err
	}
	if list.Items == nil {
		list.Items = []emporium.Product{}
	}
	return Respond(w, http.StatusOK, list)
}

func (s *Server) getVendorProduct(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	prod, err := s.catalog.VendorProduct(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, prod)
}

func (s *Server) updateProduct(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var in productUpdateRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	in.CommandID = key
	var prod emporium.Product
	err = s.idempotent(r, p, key, in, func() (err error) {
		prod, err = s.catalog.UpdateProduct(r.Context(), p, r.PathValue("id"), in.ProductUpdate)
		return err
	})
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, prod)
}

// archiveProduct answers the archived product: archiving keeps it (orders
// refer to it) but takes it off sale for good.
func (s *Server) archiveProduct(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	prod, err := s.catalog.ArchiveProduct(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, prod)
}

type stockRequest struct {
	OnHand *int64 `json:"on_hand"`
	// The rest of a stock answer is the server's.
	SKU       readOnly `json:"sku"`
	Reserved  readOnly `json:"reserved"`
	Available readOnly `json:"available"`
}

func (b stockRequest) Validate() error {
	if b.OnHand == nil {
		return required(field{"on_hand", ""})
	}
	return nil
}

func (s *Server) setStock(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in stockRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	st, err := s.catalog.SetStock(r.Context(), p, r.PathValue("id"), r.PathValue("sku"), *in.OnHand)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, st)
}

// The public read side.

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) error {
	prod, err := s.catalog.Product(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, prod)
}

func (s *Server) searchProducts(w http.ResponseWriter, r *http.Request) error {
	q, err := productQueryOf(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := s.catalog.SearchProducts(r.Context(), q)
	if err != nil {
		return err
	}
	if res.Items == nil {
		res.Items = []emporium.ProductSummary{}
	}
	return Respond(w, http.StatusOK, res)
}

// productQueryOf reads the query parameters of GET /v1/products (DESIGN §8).
// It checks only their syntax, naming every bad one; what a valid value is
// (a limit's range, a sort's name) the service says.
func productQueryOf(v url.Values) (emporium.ProductQuery, error) {
	var bad []emporium.FieldError
	q := emporium.ProductQuery{
		Text:     v.Get("q"),
		Category: v.Get("category"),
		Vendor:   v.Get("vendor"),
		Sort:     v.Get("sort"),
		Cursor:   v.Get("cursor"),
	}
	for _, b := range v["brand"] {
		if b = strings.TrimSpace(b); b != "" {
			q.Brands = append(q.Brands, b)
		}
	}
	q.MinPrice = int64Param(v, "min_price", &bad)
	q.MaxPrice = int64Param(v, "max_price", &bad)
	if limit := int64Param(v, "limit", &bad); limit != nil {
		q.Limit = clampInt(*limit)
	}
	if raw := v.Get("in_stock"); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			bad = append(bad, emporium.FieldError{Field: "in_stock", Code: emporium.FieldInvalid, Message: "must be true or false"})
		} else {
			q.InStock = &b
		}
	}
	if raw := v.Get("min_rating"); raw != "" {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			bad = append(bad, emporium.FieldError{Field: "min_rating", Code: emporium.FieldInvalid, Message: "must be a number from 0 to 5"})
		} else {
			q.MinRating = &f
		}
	}
	if len(bad) > 0 {
		return q, badQuery(bad)
	}
	return q, nil
}

// pageOf reads ?limit= and ?cursor=.
func pageOf(v url.Values) (emporium.Page, error) {
	var bad []emporium.FieldError
	page := emporium.Page{Cursor: v.Get("cursor")}
	if limit := int64Param(v, "limit", &bad); limit != nil {
		page.Limit = clampInt(*limit)
	}
	if len(bad) > 0 {
		return page, badQuery(bad)
	}
	return page, nil
}

// int64Param parses an optional integer query parameter, noting a bad one.
func int64Param(v url.Values, name string, bad *[]emporium.FieldError) *int64 {
	raw := v.Get(name)
	if raw == "" {
		return nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		*bad = append(*bad, emporium.FieldError{Field: name, Code: emporium.FieldInvalid, Message: "must be a whole number"})
		return nil
	}
	return &n
}

// clampInt keeps an out-of-range limit out of range as an int, so that the
// service refuses it rather than a wrapped value slipping through.
func clampInt(n int64) int {
	const bound = 1 << 30
	return int(max(min(n, bound), -bound))
}

func badQuery(fields []emporium.FieldError) error {
	msg := fmt.Sprintf("The query parameter %q is not valid.", fields[0].Field)
	if len(fields) > 1 {
		msg = "Some query parameters are not valid; see errors."
	}
	return &emporium.Error{Code: emporium.EINVALID, Op: "gateway: query parameters", Message: msg, Fields: fields}
}
