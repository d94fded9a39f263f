package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"

	emporium "github.com/emporium-shop/emporium"
)

// This file serves emporium.Carts and emporium.Wishlists over HTTP (DESIGN
// §8). Every route acts on the caller's own cart and wishlists; prices,
// titles and availability come from the catalogue, never from a client.

// mountCarts registers the cart and wishlist routes.
func (s *Server) mountCarts() {
	if s.carts != nil {
		s.Handle("GET /v1/cart", s.Authenticated(s.getCart))
		s.Handle("DELETE /v1/cart", s.Authenticated(s.clearCart))
		s.Handle("POST /v1/cart/items", s.Authenticated(s.addCartItem))
		s.Handle("PATCH /v1/cart/items/{line_id}", s.Authenticated(s.updateCartLine))
		s.Handle("DELETE /v1/cart/items/{line_id}", s.Authenticated(s.removeCartLine))
	}
	if s.wishlists != nil {
		s.Handle("GET /v1/wishlists", s.Authenticated(s.listWishlists))
		s.Handle("POST /v1/wishlists", s.Authenticated(s.createWishlist))
		s.Handle("GET /v1/wishlists/{id}", s.Authenticated(s.getWishlist))
		s.Handle("PATCH /v1/wishlists/{id}", s.Authenticated(s.renameWishlist))
		s.Handle("DELETE /v1/wishlists/{id}", s.Authenticated(s.deleteWishlist))
		s.Handle("POST /v1/wishlists/{id}/items", s.Authenticated(s.addWishlistItem))
		s.Handle("DELETE /v1/wishlists/{id}/items/{product_id}", s.Authenticated(s.removeWishlistItem))
		s.Handle("POST /v1/wishlists/{id}/items/{product_id}/move-to-cart", s.Authenticated(s.moveToCart))
	}
}

// Cart.

func (s *Server) getCart(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return s.respondCart(w)(s.carts.Cart(r.Context(), p))
}

func (s *Server) clearCart(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return s.respondCart(w)(s.carts.Clear(r.Context(), p))
}

// cartOwned are members of a cart line only the server writes.
type cartOwned struct {
	LineID    readOnly `json:"line_id"`
	ProductID readOnly `json:"product_id"`
	Title     readOnly `json:"title"`
	Price     readOnly `json:"price"`
	UnitPrice readOnly `json:"unit_price"`
	LineTotal readOnly `json:"line_total"`
	Available readOnly `json:"available"`
}

type cartItemRequest struct {
	SKU      string `json:"sku"`
	Quantity *int64 `json:"quantity"`
	cartOwned
}

// Validate requires the SKU and bounds its length, so that a long one is
// refused by name rather than looked up; the quantity's range is the cart's
// rule.
func (b cartItemRequest) Validate() error {
	var v validation
	v.text("sku", b.SKU, true, emporium.MaxSKULength)
	return v.err()
}

// addCartItem adds a SKU (one unit unless quantity says more). With an
// Idempotency-Key a retry changes the cart once.
func (s *Server) addCartItem(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var in cartItemRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	qty := int64(1)
	if in.Quantity != nil {
		qty = *in.Quantity
	}
	var cart emporium.Cart
	err = s.idempotent(r, p, key, in, func() (err error) {
		cart, err = s.carts.AddItem(r.Context(), p, emporium.CartItemInput{SKU: in.SKU, Quantity: qty}, key)
		return err
	})
	return s.respondCart(w)(cart, err)
}

type cartLineRequest struct {
	Quantity *int64          `json:"quantity"`
	SKU      json.RawMessage `json:"sku"`
	cartOwned
}

// Validate refuses a new SKU with its own explanation (a line's SKU is the
// client's to choose, but only when adding) and requires the quantity.
func (b cartLineRequest) Validate() error {
	if b.SKU != nil {
		return &emporium.Error{Code: emporium.EMALFORMED, Message: "A line's SKU cannot change; remove the line and add the other SKU.",
			Fields: []emporium.FieldError{{Field: "sku", Code: emporium.FieldReadOnly, Message: "cannot be changed"}}}
	}
	if b.Quantity == nil {
		return required(field{"quantity", ""})
	}
	return nil
}

func (s *Server) updateCartLine(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in cartLineRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	return s.respondCart(w)(s.carts.UpdateLine(r.Context(), p, r.PathValue("line_id"), *in.Quantity))
}

func (s *Server) removeCartLine(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return s.respondCart(w)(s.carts.RemoveLine(r.Context(), p, r.PathValue("line_id")))
}

// respondCart answers a cart, or the error of the call that made it.
func (s *Server) respondCart(w http.ResponseWriter) func(emporium.Cart, error) error {
	return func(c emporium.Cart, err error) error {
		if err != nil {
			return err
		}
		if c.Lines == nil {
			c.Lines = []emporium.CartLine{}
		}
		return Respond(w, http.StatusOK, c)
	}
}

// Wishlists.

type wishlistRequest struct {
	Name      *string  `json:"name"`
	ID        readOnly `json:"id"`
	Items     readOnly `json:"items"`
	CreatedAt readOnly `json:"created_at"`
}

func (b wishlistRequest) Validate() error { return required(field{"name", deref(b.Name)}) }

// decodeWishlist reads the body of POST /v1/wishlists and PATCH
// /v1/wishlists/{id}: the list's name.
func decodeWishlist(r *http.Request) (string, error) {
	var in wishlistRequest
	if err := Decode(r, &in); err != nil {
		return "", err
	}
	return deref(in.Name), nil
}

func (s *Server) listWishlists(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	lists, err := s.wishlists.Wishlists(r.Context(), p)
	if err != nil {
		return err
	}
	out := listBody[emporium.Wishlist]{Items: make([]emporium.Wishlist, 0, len(lists))}
	for _, l := range lists {
		out.Items = append(out.Items, wishlistOf(l))
	}
	return Respond(w, http.StatusOK, out)
}

func (s *Server) createWishlist(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	name, err := decodeWishlist(r)
	if err != nil {
		return err
	}
	var l emporium.Wishlist
	err = s.idempotent(r, p, key, name, func() (err error) {
		l, err = s.wishlists.CreateWishlist(r.Context(), p, name, key)
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/wishlists/"+url.PathEscape(l.ID))
	return Respond(w, http.StatusCreated, wishlistOf(l))
}

func (s *Server) getWishlist(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return respondWishlist(w)(s.wishlists.Wishlist(r.Context(), p, r.PathValue("id")))
}

func (s *Server) renameWishlist(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	name, err := decodeWishlist(r)
	if err != nil {
		return err
	}
	return respondWishlist(w)(s.wishlists.RenameWishlist(r.Context(), p, r.PathValue("id"), name))
}

func (s *Server) deleteWishlist(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	if err := s.wishlists.DeleteWishlist(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type wishlistItemRequest struct {
	emporium.WishlistItemInput
	AddedAt readOnly `json:"added_at"`
}

func (b wishlistItemRequest) Validate() error { return required(field{"product_id", b.ProductID}) }

func (s *Server) addWishlistItem(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in wishlistItemRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	return respondWishlist(w)(s.wishlists.AddWishlistItem(r.Context(), p, r.PathValue("id"), in.WishlistItemInput))
}

func (s *Server) removeWishlistItem(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return respondWishlist(w)(s.wishlists.RemoveWishlistItem(r.Context(), p, r.PathValue("id"), r.PathValue("product_id")))
}

// moveToCart answers the cart that accepted the item.
func (s *Server) moveToCart(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return s.respondCart(w)(s.wishlists.MoveToCart(r.Context(), p, r.PathValue("id"), r.PathValue("product_id")))
}

func respondWishlist(w http.ResponseWriter) func(emporium.Wishlist, error) error {
	return func(l emporium.Wishlist, err error) error {
		if err != nil {
			return err
		}
		return Respond(w, http.StatusOK, wishlistOf(l))
	}
}

// wishlistOf shows empty item lists as [] rather than null.
func wishlistOf(l emporium.Wishlist) emporium.Wishlist {
	if l.Items == nil {
		l.Items = []emporium.WishlistItem{}
	}
	return l
}
