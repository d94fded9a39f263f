package user

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// WishlistService is the wishlist service (emporium.Wishlists) over the
// UserGrain, which owns each user's wishlists (DESIGN §4). The grain keeps
// the rules that need the account's state (limits, unique names, one item
// per product); the service checks products against the catalogue before
// it adds them, and moves items to the cart. Every method acts on the
// caller's own grain, so another user's wishlist is simply not there
// (ENOTFOUND).
type WishlistService struct {
	cfg WishlistConfig
}

var _ emporium.Wishlists = (*WishlistService)(nil)

// Products answers the catalogue's products. The node passes the catalogue
// service, whose Product answers active products only, with their variants,
// and ENOTFOUND for any other.
type Products interface {
	Product(ctx context.Context, id string) (emporium.Product, error)
}

// WishlistConfig is what the wishlist service needs from the node.
type WishlistConfig struct {
	// Cluster reaches the UserGrain kind.
	Cluster *cluster.Cluster
	// Products checks that an added product is on sale and a SKU is one of
	// its variants.
	Products Products
	// Carts receives the items moved to the cart.
	Carts  emporium.Carts
	Logger *slog.Logger
	// NewID returns a new random id (wishlist and command ids); default 16
	// random bytes in hex. It must give 1-64 letters, digits, '_' or '-'.
	NewID func() string
}

// NewWishlistService checks cfg and returns the service.
func NewWishlistService(cfg WishlistConfig) (*WishlistService, error) {
	if cfg.Cluster == nil || cfg.Products == nil || cfg.Carts == nil {
		panic("user.NewWishlistService: Cluster, Products and Carts are required") // a wiring mistake
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	return &WishlistService{cfg: cfg}, nil
}

func (s *WishlistService) users(id string) *pb.UserGrainGrainClient {
	return pb.GetUserGrainGrainClient(s.cfg.Cluster, id)
}

// Wishlists implements emporium.Wishlists: the caller's wishlists, oldest
// first.
func (s *WishlistService) Wishlists(ctx context.Context, p emporium.Principal) ([]emporium.Wishlist, error) {
	if err := needPrincipal(p); err != nil {
		return nil, err
	}
	ws, err := s.users(p.UserID).GetWishlists(&pb.GetWishlistsRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall("user.WishlistService.Wishlists", err)
	}
	out := make([]emporium.Wishlist, 0, len(ws.Wishlists))
	for _, w := range ws.Wishlists {
		out = append(out, toWishlist(w))
	}
	return out, nil
}

// CreateWishlist implements emporium.Wishlists. With a commandID (an
// Idempotency-Key) the wishlist id is derived from (user, commandID), so a
// retry reaches the same list and is answered with it.
func (s *WishlistService) CreateWishlist(ctx context.Context, p emporium.Principal, name string, commandID string) (emporium.Wishlist, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Wishlist{}, err
	}
	id := s.cfg.NewID()
	if commandID != "" {
		sum := sha256.Sum256([]byte(p.UserID + "\x00wishlist\x00" + commandID))
		id = "w" + hex.EncodeToString(sum[:16])
	}
	ws, err := s.users(p.UserID).CreateWishlist(&pb.CreateWishlistRequest{
		CommandId: "wishlist:" + id, WishlistId: id, Name: name,
	}, actors.Within(ctx, s.cfg.Cluster))
	return one("user.WishlistService.CreateWishlist", id, ws, err)
}

// Wishlist implements emporium.Wishlists.
func (s *WishlistService) Wishlist(ctx context.Context, p emporium.Principal, id string) (emporium.Wishlist, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Wishlist{}, err
	}
	w, err := s.wishlist(ctx, "user.WishlistService.Wishlist", p, id)
	if err != nil {
		return emporium.Wishlist{}, err
	}
	return toWishlist(w), nil
}

// wishlist answers the caller's wishlist id as the grain has it.
func (s *WishlistService) wishlist(ctx context.Context, op string, p emporium.Principal, id string) (*pb.Wishlist, error) {
	if id == "" {
		// An empty id would ask the grain for every list.
		return nil, wishlistNotFound(id)
	}
	ws, err := s.users(p.UserID).GetWishlists(&pb.GetWishlistsRequest{WishlistId: id}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall(op, err)
	}
	if len(ws.Wishlists) != 1 {
		return nil, wishlistNotFound(id)
	}
	return ws.Wishlists[0], nil
}

// RenameWishlist implements emporium.Wishlists.
func (s *WishlistService) RenameWishlist(ctx context.Context, p emporium.Principal, id, name string) (emporium.Wishlist, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Wishlist{}, err
	}
	ws, err := s.users(p.UserID).RenameWishlist(&pb.RenameWishlistRequest{CommandId: s.cfg.NewID(), WishlistId: id, Name: name}, actors.Within(ctx, s.cfg.Cluster))
	return one("user.WishlistService.RenameWishlist", id, ws, err)
}

// DeleteWishlist implements emporium.Wishlists.
func (s *WishlistService) DeleteWishlist(ctx context.Context, p emporium.Principal, id string) error {
	if err := needPrincipal(p); err != nil {
		return err
	}
	_, err := s.users(p.UserID).DeleteWishlist(&pb.DeleteWishlistRequest{CommandId: s.cfg.NewID(), WishlistId: id}, actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall("user.WishlistService.DeleteWishlist", err)
}

// AddWishlistItem implements emporium.Wishlists. The product must be on sale
// (field "product_id", code "not_found" otherwise) and a SKU given must be
// one of its variants (field "sku", code "not_found"). Adding a product the
// list holds replaces its SKU.
func (s *WishlistService) AddWishlistItem(ctx context.Context, p emporium.Principal, id string, in emporium.WishlistItemInput) (emporium.Wishlist, error) {
	const op = "user.WishlistService.AddWishlistItem"
	if err := needPrincipal(p); err != nil {
		return emporium.Wishlist{}, err
	}
	// The list first, so that a wrong path is a 404 whatever the body; then
	// the body's syntax, before the catalogue is asked.
	if _, err := s.wishlist(ctx, op, p, id); err != nil {
		return emporium.Wishlist{}, err
	}
	if err := CheckWishlistItem(in.ProductID, in.SKU); err != nil {
		return emporium.Wishlist{}, err
	}
	prod, err := s.product(ctx, op, in.ProductID)
	if err != nil {
		return emporium.Wishlist{}, err
	}
	if in.SKU != "" && !hasVariant(prod, in.SKU) {
		return emporium.Wishlist{}, emporium.Invalidf("sku", emporium.FieldNotFound, "the product has no variant with this SKU")
	}
	ws, err := s.users(p.UserID).AddWishlistItem(&pb.AddWishlistItemRequest{
		CommandId: s.cfg.NewID(), WishlistId: id, ProductId: in.ProductID, Sku: in.SKU,
	}, actors.Within(ctx, s.cfg.Cluster))
	return one(op, id, ws, err)
}

// RemoveWishlistItem implements emporium.Wishlists.
func (s *WishlistService) RemoveWishlistItem(ctx context.Context, p emporium.Principal, id, productID string) (emporium.Wishlist, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Wishlist{}, err
	}
	ws, err := s.users(p.UserID).RemoveWishlistItem(&pb.RemoveWishlistItemRequest{
		CommandId: s.cfg.NewID(), WishlistId: id, ProductId: productID,
	}, actors.Within(ctx, s.cfg.Cluster))
	return one("user.WishlistService.RemoveWishlistItem", id, ws, err)
}

// MoveToCart implements emporium.Wishlists. It adds one unit of the item's
// SKU (or of the product's only variant; with several and none chosen it is
// field "sku", code "required": the client must choose one) to the cart,
// and removes the item only once the cart has accepted it. Both commands
// carry ids derived from the item (list, product, added_at, SKU), so a
// retried move (after a failed removal, a timeout, a concurrent double
// click) adds the unit once and removes the item once. A refusal of the cart
// (out_of_stock, ...) keeps the item and is returned as the cart gave it.
// A move retried after it fully succeeded finds no item: ENOTFOUND.
func (s *WishlistService) MoveToCart(ctx context.Context, p emporium.Principal, id, productID string) (emporium.Cart, error) {
	const op = "user.WishlistService.MoveToCart"
	if err := needPrincipal(p); err != nil {
		return emporium.Cart{}, err
	}
	w, err := s.wishlist(ctx, op, p, id)
	if err != nil {
		return emporium.Cart{}, err
	}
	i := findItem(w, productID)
	if i < 0 {
		return emporium.Cart{}, wishlistItemNotFound(productID)
	}
	item := w.Items[i]
	sku := item.Sku
	if sku == "" {
		if sku, err = s.onlyVariant(ctx, op, productID); err != nil {
			return emporium.Cart{}, err
		}
	}
	addID, removeID := moveCommandIDs(p.UserID, id, item, sku)
	cart, err := s.cfg.Carts.AddItem(ctx, p, emporium.CartItemInput{SKU: sku, Quantity: 1}, addID)
	if err != nil {
		return emporium.Cart{}, err // the item stays
	}
	_, err = s.users(p.UserID).RemoveWishlistItem(&pb.RemoveWishlistItemRequest{
		CommandId: removeID, WishlistId: id, ProductId: productID,
	}, actors.Within(ctx, s.cfg.Cluster))
	switch err = emporium.GrainCall(op, err); {
	case err == nil, emporium.IsCode(err, emporium.ENOTFOUND):
		// Not found: gone already, by a concurrent move (or removal) of the
		// same item.
		return cart, nil
	default:
		// The unit is in the cart and the item still in the list: a retry
		// finds the cart's add done and removes the item.
		s.cfg.Logger.Warn("wishlists: removing a moved item failed", slog.String("wishlist", id), slog.Any("error", err))
		return emporium.Cart{}, err
	}
}

// onlyVariant answers the SKU of the product's only variant.
func (s *WishlistService) onlyVariant(ctx context.Context, op, productID string) (string, error) {
	prod, err := s.product(ctx, op, productID)
	if err != nil {
		return "", err
	}
	switch len(prod.Variants) {
	case 1:
		return prod.Variants[0].SKU, nil
	case 0:
		return "", productNotFound()
	default:
		return "", emporium.Invalidf("sku", emporium.FieldRequired,
			"this product comes in %d variants: choose one (add the item again with its sku) before moving it to the cart",
			len(prod.Variants))
	}
}

// product answers a product on sale; one that is not is a validation error
// on product_id.
func (s *WishlistService) product(ctx context.Context, op, productID string) (emporium.Product, error) {
	prod, err := s.cfg.Products.Product(ctx, productID)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return emporium.Product{}, productNotFound()
	}
	if err != nil {
		return emporium.Product{}, emporium.Wrap(op, err)
	}
	return prod, nil
}

func productNotFound() error {
	return emporium.Invalidf("product_id", emporium.FieldNotFound, "no product on sale has this id")
}

func hasVariant(p emporium.Product, sku string) bool {
	for _, v := range p.Variants {
		if v.SKU == sku {
			return true
		}
	}
	return false
}

// moveCommandIDs derives the command ids of moving item (with SKU sku) from
// wishlist id to the cart: the cart's add and the list's removal. The item's
// added_at tells a product added again after a move from the one moved; the
// SKU, a variant chosen after a failed removal from the one added.
func moveCommandIDs(userID, wishlistID string, item *pb.WishlistItem, sku string) (add, remove string) {
	added := strconv.FormatInt(item.GetAddedAt().AsTime().UnixNano(), 10)
	sum := sha256.Sum256([]byte(userID + "\x00" + wishlistID + "\x00" + item.ProductId + "\x00" + added + "\x00" + sku))
	h := hex.EncodeToString(sum[:16])
	return "wishlist-move:" + h, "wishlist-moved:" + h
}

// one answers the wishlist id out of a command's answer. A command answers
// none when the list is gone, which only a retry of a create sees after the
// list was deleted.
func one(op, id string, ws *pb.Wishlists, err error) (emporium.Wishlist, error) {
	if err != nil {
		return emporium.Wishlist{}, emporium.GrainCall(op, err)
	}
	for _, w := range ws.Wishlists {
		if w.Id == id {
			return toWishlist(w), nil
		}
	}
	return emporium.Wishlist{}, wishlistNotFound(id)
}

func toWishlist(w *pb.Wishlist) emporium.Wishlist {
	out := emporium.Wishlist{
		ID: w.Id, Name: w.Name, Items: make([]emporium.WishlistItem, 0, len(w.Items)), CreatedAt: timeOf(w.CreatedAt),
	}
	for _, it := range w.Items {
		out.Items = append(out.Items, emporium.WishlistItem{ProductID: it.ProductId, SKU: it.Sku, AddedAt: timeOf(it.AddedAt)})
	}
	return out
}
