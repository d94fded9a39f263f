package user

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// The wishlists in the pure core (DESIGN §4: the UserGrain owns them):
// decide and apply for the wishlist commands, and their view. The grain does
// not know the catalogue: that a product exists and that a SKU is one of its
// variants is checked by the caller (WishlistService) before it asks. The
// grain keeps the rules that need the account's state: the limits, one item
// per product, unique names.
//
// Wishlist events do not move the account's updated_at: that is the time of
// the account view (GET /v1/me), which shows no wishlist.

// Limits of a wishlist's fields. emporium.MaxWishlists and
// emporium.MaxWishlistItems bound how many.
const (
	// MaxWishlistName bounds a wishlist name, in characters once trimmed.
	MaxWishlistName  = 60
	maxWishlistIDLen = 64
	// MaxProductIDLength and MaxWishlistSKULength bound the product id and
	// SKU of a wishlist item, 1-64 of A-Z a-z 0-9 . _ -.
	MaxProductIDLength   = 64
	MaxWishlistSKULength = 64
)

// CheckWishlistItem applies the syntax rules of a wishlist item: a product id
// of 1-64 letters, digits, '.', '_' and '-', and a SKU that is empty or 1-64
// of the same. The service checks them before it asks the catalogue; the
// grain checks them again. A refusal is EINVALID naming the fields.
func CheckWishlistItem(productID, sku string) error {
	if errs := wishlistItemErrors(productID, sku); len(errs) > 0 {
		return emporium.InvalidFields(errs...)
	}
	return nil
}

func wishlistItemErrors(productID, sku string) []emporium.FieldError {
	var errs []emporium.FieldError
	switch {
	case productID == "":
		errs = append(errs, emporium.Field("product_id", emporium.FieldRequired, "product_id is required"))
	case !validKey(productID, MaxProductIDLength, "._-"):
		errs = append(errs, emporium.Field("product_id", emporium.FieldInvalid,
			"product_id must be 1-%d of A-Z a-z 0-9 . _ -", MaxProductIDLength))
	}
	if sku != "" && !validKey(sku, MaxWishlistSKULength, "._-") {
		errs = append(errs, emporium.Field("sku", emporium.FieldInvalid, "sku must be 1-%d of A-Z a-z 0-9 . _ -", MaxWishlistSKULength))
	}
	return errs
}

// cleanWishlistName trims a wishlist name and checks it: one line of 1-60
// characters.
func cleanWishlistName(s string) (string, *emporium.FieldError) {
	return cleanText("name", s, true, MaxWishlistName)
}

// WishlistNameKey is what no two wishlists of one account may share: the
// name case-folded (upper then lower, so that letters with several cases
// fold as strings.EqualFold matches them).
func WishlistNameKey(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, name)
}

func decideCreateWishlist(s *pb.State, c *pb.CreateWishlistRequest, now time.Time) ([]proto.Message, error) {
	if !validKey(c.WishlistId, maxWishlistIDLen, "_-") {
		return nil, emporium.Invalidf("wishlist_id", emporium.FieldInvalid,
			"wishlist_id must be 1-%d letters, digits, '_' or '-'", maxWishlistIDLen)
	}
	if findWishlist(s, c.WishlistId) >= 0 {
		e := emporium.Errorf(emporium.ECONFLICT, "wishlist id %s is already used", c.WishlistId)
		e.Fields = []emporium.FieldError{emporium.Field("wishlist_id", emporium.FieldTaken, "%s", e.Message)}
		return nil, e
	}
	if len(s.Wishlists) >= emporium.MaxWishlists {
		return nil, emporium.Invalidf("wishlists", emporium.FieldTooMany,
			"an account keeps at most %d wishlists; delete one first", emporium.MaxWishlists)
	}
	name, fe := cleanWishlistName(c.Name)
	if fe != nil {
		return nil, emporium.InvalidFields(*fe)
	}
	if wishlistNameTaken(s, name, "") {
		return nil, wishlistNameTakenError()
	}
	return []proto.Message{&pb.WishlistCreated{
		CommandId: c.CommandId, WishlistId: c.WishlistId, Name: name, At: timestamppb.New(now),
	}}, nil
}

func decideRenameWishlist(s *pb.State, c *pb.RenameWishlistRequest, now time.Time) ([]proto.Message, error) {
	i := findWishlist(s, c.WishlistId)
	if i < 0 {
		return nil, wishlistNotFound(c.WishlistId)
	}
	name, fe := cleanWishlistName(c.Name)
	if fe != nil {
		return nil, emporium.InvalidFields(*fe)
	}
	if name == s.Wishlists[i].Name {
		return nil, nil
	}
	// Its own name in another case is no clash: that is a restyling.
	if wishlistNameTaken(s, name, c.WishlistId) {
		return nil, wishlistNameTakenError()
	}
	return []proto.Message{&pb.WishlistRenamed{
		CommandId: c.CommandId, WishlistId: c.WishlistId, Name: name, At: timestamppb.New(now),
	}}, nil
}

func decideDeleteWishlist(s *pb.State, c *pb.DeleteWishlistRequest, now time.Time) ([]proto.Message, error) {
	if findWishlist(s, c.WishlistId) < 0 {
		return nil, wishlistNotFound(c.WishlistId)
	}
	return []proto.Message{&pb.WishlistDeleted{CommandId: c.CommandId, WishlistId: c.WishlistId, At: timestamppb.New(now)}}, nil
}

func decideAddWishlistItem(s *pb.State, c *pb.AddWishlistItemRequest, now time.Time) ([]proto.Message, error) {
	i := findWishlist(s, c.WishlistId)
	if i < 0 {
		return nil, wishlistNotFound(c.WishlistId)
	}
	if errs := wishlistItemErrors(c.ProductId, c.Sku); len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	w := s.Wishlists[i]
	at := timestamppb.New(now)
	if it := findItem(w, c.ProductId); it >= 0 {
		// One item per product: adding it again chooses its variant.
		if w.Items[it].Sku == c.Sku {
			return nil, nil
		}
		return []proto.Message{&pb.WishlistItemUpdated{
			CommandId: c.CommandId, WishlistId: w.Id, ProductId: c.ProductId, Sku: c.Sku, At: at,
		}}, nil
	}
	if len(w.Items) >= emporium.MaxWishlistItems {
		return nil, emporium.Invalidf("items", emporium.FieldTooMany,
			"a wishlist holds at most %d products; remove one first", emporium.MaxWishlistItems)
	}
	return []proto.Message{&pb.WishlistItemAdded{
		CommandId: c.CommandId, WishlistId: w.Id, ProductId: c.ProductId, Sku: c.Sku, At: at,
	}}, nil
}

func decideRemoveWishlistItem(s *pb.State, c *pb.RemoveWishlistItemRequest, now time.Time) ([]proto.Message, error) {
	i := findWishlist(s, c.WishlistId)
	if i < 0 {
		return nil, wishlistNotFound(c.WishlistId)
	}
	if findItem(s.Wishlists[i], c.ProductId) < 0 {
		return nil, wishlistItemNotFound(c.ProductId)
	}
	return []proto.Message{&pb.WishlistItemRemoved{
		CommandId: c.CommandId, WishlistId: c.WishlistId, ProductId: c.ProductId, At: timestamppb.New(now),
	}}, nil
}

// decideGetWishlists refuses to answer a wishlist the account does not have.
func decideGetWishlists(s *pb.State, c *pb.GetWishlistsRequest) ([]proto.Message, error) {
	if c.WishlistId != "" && findWishlist(s, c.WishlistId) < 0 {
		return nil, wishlistNotFound(c.WishlistId)
	}
	return nil, nil
}

// applyWishlist folds a wishlist event into the state; ok is false when ev
// is not one.
func applyWishlist(s *pb.State, ev proto.Message) (ok bool) {
	switch e := ev.(type) {
	case *pb.WishlistCreated:
		s.Wishlists = append(s.Wishlists, &pb.Wishlist{
			Id: e.WishlistId, Name: e.Name, CreatedAt: cloneTime(e.At), UpdatedAt: cloneTime(e.At),
		})
	case *pb.WishlistRenamed:
		if i := findWishlist(s, e.WishlistId); i >= 0 {
			s.Wishlists[i].Name = e.Name
			s.Wishlists[i].UpdatedAt = cloneTime(e.At)
		}
	case *pb.WishlistDeleted:
		if i := findWishlist(s, e.WishlistId); i >= 0 {
			s.Wishlists = slices.Delete(s.Wishlists, i, i+1)
		}
	case *pb.WishlistItemAdded:
		if i := findWishlist(s, e.WishlistId); i >= 0 {
			w := s.Wishlists[i]
			w.Items = append(w.Items, &pb.WishlistItem{ProductId: e.ProductId, Sku: e.Sku, AddedAt: cloneTime(e.At)})
			w.UpdatedAt = cloneTime(e.At)
		}
	case *pb.WishlistItemUpdated:
		if i := findWishlist(s, e.WishlistId); i >= 0 {
			w := s.Wishlists[i]
			if it := findItem(w, e.ProductId); it >= 0 {
				w.Items[it].Sku = e.Sku
			}
			w.UpdatedAt = cloneTime(e.At)
		}
	case *pb.WishlistItemRemoved:
		if i := findWishlist(s, e.WishlistId); i >= 0 {
			w := s.Wishlists[i]
			if it := findItem(w, e.ProductId); it >= 0 {
				w.Items = slices.Delete(w.Items, it, it+1)
			}
			w.UpdatedAt = cloneTime(e.At)
		}
	default:
		return false
	}
	return true
}

// wishlistsView renders the wishlists of s as their owner sees them: all of
// them when id is "", else only the one with that id (none when the account
// has no such list, e.g. after a retried delete). It copies every message it
// returns.
func wishlistsView(s *pb.State, seq uint64, id string) *pb.Wishlists {
	out := &pb.Wishlists{Seq: seq}
	for _, w := range s.Wishlists {
		if id == "" || w.Id == id {
			out.Wishlists = append(out.Wishlists, proto.CloneOf(w))
		}
	}
	return out
}

func findWishlist(s *pb.State, id string) int {
	if id == "" {
		return -1
	}
	return slices.IndexFunc(s.Wishlists, func(w *pb.Wishlist) bool { return w.Id == id })
}

func findItem(w *pb.Wishlist, productID string) int {
	if productID == "" {
		return -1
	}
	return slices.IndexFunc(w.Items, func(it *pb.WishlistItem) bool { return it.ProductId == productID })
}

// wishlistNameTaken reports whether a wishlist other than except has a name
// with the key of name.
func wishlistNameTaken(s *pb.State, name, except string) bool {
	key := WishlistNameKey(name)
	return slices.ContainsFunc(s.Wishlists, func(w *pb.Wishlist) bool {
		return w.Id != except && WishlistNameKey(w.Name) == key
	})
}

func wishlistNameTakenError() error {
	return emporium.Invalidf("name", emporium.FieldTaken, "you have a wishlist with this name already")
}

func wishlistNotFound(id string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "wishlist %q not found", id)
}

func wishlistItemNotFound(productID string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "product %q is not in the wishlist", productID)
}

// validKey reports whether s is 1-max ASCII letters and digits, or bytes of
// extra.
func validKey(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}
