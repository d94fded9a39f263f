package emporium

import (
	"context"
	"time"
)

// Carts is the shopping-cart service (DESIGN §4 CartGrain): one cart per
// user, lines by SKU, prices and availability always from the catalogue.
// The gateway serves it over HTTP; actors/cart implements it over the
// CartGrain. Every method acts on the caller's own cart only.
type Carts interface {
	// Cart answers the caller's cart, priced and checked against the
	// catalogue as it is now.
	Cart(ctx context.Context, p Principal) (Cart, error)
	// AddItem adds quantity units of a SKU; a SKU already in the cart merges
	// into its line. commandID, when set (from an Idempotency-Key), makes a
	// retry change the cart once.
	AddItem(ctx context.Context, p Principal, in CartItemInput, commandID string) (Cart, error)
	// UpdateLine sets a line's quantity.
	UpdateLine(ctx context.Context, p Principal, lineID string, quantity int64) (Cart, error)
	// RemoveLine removes a line.
	RemoveLine(ctx context.Context, p Principal, lineID string) (Cart, error)
	// Clear empties the cart.
	Clear(ctx context.Context, p Principal) (Cart, error)
}

// Limits of a cart line.
const (
	MinLineQuantity = 1
	MaxLineQuantity = 99
)

// CartItemInput adds a SKU to a cart.
type CartItemInput struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Cart is a user's cart as the API shows it.
type Cart struct {
	Lines    []CartLine `json:"lines"`
	Subtotal Money      `json:"subtotal"`
	// ItemCount is the sum of the lines' quantities.
	ItemCount int64 `json:"item_count"`
	// Seq is the cart's version: it grows with every change, and live
	// updates carry it so a client can tell it missed one.
	Seq       uint64    `json:"seq"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CartLine is one SKU in a cart.
type CartLine struct {
	LineID    string            `json:"line_id"`
	ProductID string            `json:"product_id"`
	SKU       string            `json:"sku"`
	Title     string            `json:"title"`
	Options   map[string]string `json:"options"`
	Quantity  int64             `json:"quantity"`
	// UnitPrice is the catalogue's price now; LineTotal is it times the
	// quantity.
	UnitPrice Money `json:"unit_price"`
	LineTotal Money `json:"line_total"`
	// Available is the units a buyer can order now.
	Available int64 `json:"available"`
	// PriceChanged is set when UnitPrice differs from the price when the
	// line was added (PriceWhenAdded).
	PriceChanged   bool  `json:"price_changed"`
	PriceWhenAdded Money `json:"price_when_added"`
	// Purchasable is false when the product was archived or the SKU
	// removed since the line was added; such a line cannot be checked out.
	Purchasable bool      `json:"purchasable"`
	AddedAt     time.Time `json:"added_at"`
}

// Wishlists is the wishlist service: several named wishlists per user (the
// UserGrain owns them). Every method acts on the caller's own wishlists
// only; another user's wishlist is ENOTFOUND.
type Wishlists interface {
	Wishlists(ctx context.Context, p Principal) ([]Wishlist, error)
	CreateWishlist(ctx context.Context, p Principal, name string, commandID string) (Wishlist, error)
	Wishlist(ctx context.Context, p Principal, id string) (Wishlist, error)
	RenameWishlist(ctx context.Context, p Principal, id, name string) (Wishlist, error)
	DeleteWishlist(ctx context.Context, p Principal, id string) error
	// AddWishlistItem adds a product (optionally one variant); the product
	// must exist and be active.
	AddWishlistItem(ctx context.Context, p Principal, id string, in WishlistItemInput) (Wishlist, error)
	RemoveWishlistItem(ctx context.Context, p Principal, id, productID string) (Wishlist, error)
	// MoveToCart adds the item to the cart (quantity 1 of its SKU, or of the
	// product's only variant) and removes it from the wishlist only once the
	// cart has accepted it.
	MoveToCart(ctx context.Context, p Principal, id, productID string) (Cart, error)
}

// Limits of wishlists.
const (
	MaxWishlists     = 20
	MaxWishlistItems = 200
)

// Wishlist is a named list of products a user keeps.
type Wishlist struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Items     []WishlistItem `json:"items"`
	CreatedAt time.Time      `json:"created_at"`
}

// WishlistItem is a product (and optionally one of its variants) in a
// wishlist.
type WishlistItem struct {
	ProductID string    `json:"product_id"`
	SKU       string    `json:"sku,omitempty"`
	AddedAt   time.Time `json:"added_at"`
}

// WishlistItemInput adds a product to a wishlist.
type WishlistItemInput struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku,omitempty"`
}

// LiveEvent is a push to a user's live connections (DESIGN §4 "Live
// updates"): Type such as "cart.updated", the entity's ID, its Seq, and
// Data (the entity as the API shows it, or nil when the receiver must fetch
// it).
type LiveEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Seq  uint64 `json:"seq"`
	Data any    `json:"data,omitempty"`
}
