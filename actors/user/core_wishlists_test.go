package user

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestDecideWishlists checks decide on the wishlist commands.
func TestDecideWishlists(t *testing.T) {
	runDecide(t, []decideCase{
		// Wishlists.
		{name: "create wishlist", given: verified, cmd: createWishlist("c1", "w1", "  Birthday ideas "),
			want: []proto.Message{&pb.WishlistCreated{CommandId: "c1", WishlistId: "w1", Name: "Birthday ideas", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				require.Len(t, s.Wishlists, 1)
				assert.True(t, proto.Equal(&pb.Wishlist{Id: "w1", Name: "Birthday ideas", CreatedAt: at0, UpdatedAt: at0}, s.Wishlists[0]))
				assert.Equal(t, created, s.UpdatedAt.AsTime(), "the account view did not change")
			}},
		{name: "create wishlist of 60 characters", given: verified, cmd: createWishlist("c1", "w1", strings.Repeat("ü", MaxWishlistName)),
			want: []proto.Message{&pb.WishlistCreated{CommandId: "c1", WishlistId: "w1", Name: strings.Repeat("ü", MaxWishlistName), At: at0}}},
		{name: "create wishlist retried", given: lists, cmd: createWishlist("w1", "w1", "Other")},
		{name: "create wishlist id in use", given: lists, cmd: createWishlist("c1", "w2", "New"),
			errCode: emporium.ECONFLICT, field: "wishlist_id", fieldCode: emporium.FieldTaken},
		{name: "create wishlist name taken", given: lists, cmd: createWishlist("c1", "w3", " BIRTHDAY "),
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldTaken},
		{name: "create wishlist name missing", given: verified, cmd: createWishlist("c1", "w1", "  "),
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldRequired},
		{name: "create wishlist name too long", given: verified, cmd: createWishlist("c1", "w1", strings.Repeat("ü", MaxWishlistName+1)),
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldTooLong},
		{name: "create wishlist name on two lines", given: verified, cmd: createWishlist("c1", "w1", "a\nb"),
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldInvalid},
		{name: "create wishlist bad id", given: verified, cmd: createWishlist("c1", "w 1", "A"),
			errCode: emporium.EINVALID, field: "wishlist_id", fieldCode: emporium.FieldInvalid},
		{name: "create wishlist without id", given: verified, cmd: createWishlist("c1", "", "A"),
			errCode: emporium.EINVALID, field: "wishlist_id", fieldCode: emporium.FieldInvalid},
		{name: "create wishlist id too long", given: verified, cmd: createWishlist("c1", strings.Repeat("w", 65), "A"),
			errCode: emporium.EINVALID, field: "wishlist_id", fieldCode: emporium.FieldInvalid},
		{name: "create wishlist without command id", given: verified, cmd: createWishlist("", "w1", "A"),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "create too many wishlists", given: fullLists, cmd: createWishlist("c1", "w1", "One more"),
			errCode: emporium.EINVALID, field: "wishlists", fieldCode: emporium.FieldTooMany},
		{name: "create wishlist after one was deleted", given: with(fullLists, &pb.WishlistDeleted{CommandId: "d", WishlistId: "f3", At: ts(created)}),
			cmd:  createWishlist("c1", "w1", "List 3"),
			want: []proto.Message{&pb.WishlistCreated{CommandId: "c1", WishlistId: "w1", Name: "List 3", At: at0}}},
		{name: "rename wishlist", given: lists, cmd: renameWishlist("r1", "w1", "Birthday 2027 "),
			want: []proto.Message{&pb.WishlistRenamed{CommandId: "r1", WishlistId: "w1", Name: "Birthday 2027", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, "Birthday 2027", s.Wishlists[0].Name)
				assert.Equal(t, created, s.Wishlists[0].CreatedAt.AsTime())
				assert.Equal(t, t0, s.Wishlists[0].UpdatedAt.AsTime())
				assert.Len(t, s.Wishlists[0].Items, 2, "the items stay")
			}},
		{name: "rename wishlist to its name", given: lists, cmd: renameWishlist("r1", "w1", " Birthday ")},
		{name: "restyle wishlist name", given: lists, cmd: renameWishlist("r1", "w1", "BIRTHDAY"),
			want: []proto.Message{&pb.WishlistRenamed{CommandId: "r1", WishlistId: "w1", Name: "BIRTHDAY", At: at0}}},
		{name: "rename wishlist to another's name", given: lists, cmd: renameWishlist("r1", "w1", "kitchen"),
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldTaken},
		{name: "rename wishlist name missing", given: lists, cmd: renameWishlist("r1", "w1", ""),
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldRequired},
		{name: "rename unknown wishlist", given: lists, cmd: renameWishlist("r1", "w9", "New"), errCode: emporium.ENOTFOUND},
		{name: "rename wishlist retried", given: with(lists, &pb.WishlistRenamed{CommandId: "r1", WishlistId: "w1", Name: "B", At: ts(created)}),
			cmd: renameWishlist("r1", "w1", "Other")},
		{name: "rename wishlist without command id", given: lists, cmd: renameWishlist("", "w1", "New"),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "delete wishlist", given: lists, cmd: &pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w1"},
			want: []proto.Message{&pb.WishlistDeleted{CommandId: "d1", WishlistId: "w1", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				require.Len(t, s.Wishlists, 1)
				assert.Equal(t, "w2", s.Wishlists[0].Id)
			}},
		{name: "delete unknown wishlist", given: lists, cmd: &pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w9"}, errCode: emporium.ENOTFOUND},
		{name: "delete wishlist retried", given: with(lists, &pb.WishlistDeleted{CommandId: "d1", WishlistId: "w1", At: ts(created)}),
			cmd: &pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w1"}},
		{name: "delete wishlist without command id", given: lists, cmd: &pb.DeleteWishlistRequest{WishlistId: "w1"},
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "add wishlist item", given: lists, cmd: addWishlistItem("a1", "w2", "p1", ""),
			want: []proto.Message{&pb.WishlistItemAdded{CommandId: "a1", WishlistId: "w2", ProductId: "p1", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				require.Len(t, s.Wishlists[1].Items, 1)
				assert.True(t, proto.Equal(&pb.WishlistItem{ProductId: "p1", AddedAt: at0}, s.Wishlists[1].Items[0]))
				assert.Equal(t, t0, s.Wishlists[1].UpdatedAt.AsTime())
				assert.Len(t, s.Wishlists[0].Items, 2, "the other list is untouched")
			}},
		{name: "add wishlist item with a variant", given: lists, cmd: addWishlistItem("a1", "w1", "p3", "P3.XL_v-2"),
			want: []proto.Message{&pb.WishlistItemAdded{CommandId: "a1", WishlistId: "w1", ProductId: "p3", Sku: "P3.XL_v-2", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"p1", "p2", "p3"}, itemProducts(s.Wishlists[0]), "added last")
			}},
		{name: "add wishlist item it holds", given: lists, cmd: addWishlistItem("a1", "w1", "p2", "P2-RED")},
		{name: "choose a variant of a wishlist item", given: lists, cmd: addWishlistItem("a1", "w1", "p1", "P1-BLUE"),
			want: []proto.Message{&pb.WishlistItemUpdated{CommandId: "a1", WishlistId: "w1", ProductId: "p1", Sku: "P1-BLUE", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				w := s.Wishlists[0]
				assert.Equal(t, []string{"p1", "p2"}, itemProducts(w), "no duplicate, same place")
				assert.Equal(t, "P1-BLUE", w.Items[0].Sku)
				assert.Equal(t, created, w.Items[0].AddedAt.AsTime(), "added_at stays")
				assert.Equal(t, t0, w.UpdatedAt.AsTime())
			}},
		{name: "clear the variant of a wishlist item", given: lists, cmd: addWishlistItem("a1", "w1", "p2", ""),
			want:  []proto.Message{&pb.WishlistItemUpdated{CommandId: "a1", WishlistId: "w1", ProductId: "p2", At: at0}},
			check: func(t *testing.T, s *pb.State) { assert.Empty(t, s.Wishlists[0].Items[1].Sku) }},
		{name: "add wishlist item retried", given: lists, cmd: addWishlistItem("i1", "w2", "p9", "")},
		{name: "add item to unknown wishlist", given: lists, cmd: addWishlistItem("a1", "w9", "p1", ""), errCode: emporium.ENOTFOUND},
		{name: "add wishlist item without product", given: lists, cmd: addWishlistItem("a1", "w1", "", ""),
			errCode: emporium.EINVALID, field: "product_id", fieldCode: emporium.FieldRequired},
		{name: "add wishlist item bad product id", given: lists, cmd: addWishlistItem("a1", "w1", "p 1", ""),
			errCode: emporium.EINVALID, field: "product_id", fieldCode: emporium.FieldInvalid},
		{name: "add wishlist item bad sku", given: lists, cmd: addWishlistItem("a1", "w1", "p1", strings.Repeat("S", 65)),
			errCode: emporium.EINVALID, field: "sku", fieldCode: emporium.FieldInvalid},
		{name: "add wishlist item without command id", given: lists, cmd: addWishlistItem("", "w1", "p3", ""),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "add too many wishlist items", given: fullItems, cmd: addWishlistItem("a1", "w1", "p-new", ""),
			errCode: emporium.EINVALID, field: "items", fieldCode: emporium.FieldTooMany},
		{name: "choose a variant in a full wishlist", given: fullItems, cmd: addWishlistItem("a1", "w1", "p7", "P7-S"),
			want: []proto.Message{&pb.WishlistItemUpdated{CommandId: "a1", WishlistId: "w1", ProductId: "p7", Sku: "P7-S", At: at0}}},
		{name: "remove wishlist item", given: lists, cmd: removeWishlistItem("x1", "w1", "p1"),
			want: []proto.Message{&pb.WishlistItemRemoved{CommandId: "x1", WishlistId: "w1", ProductId: "p1", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"p2"}, itemProducts(s.Wishlists[0]))
				assert.Equal(t, t0, s.Wishlists[0].UpdatedAt.AsTime())
			}},
		{name: "remove wishlist item it lacks", given: lists, cmd: removeWishlistItem("x1", "w2", "p1"), errCode: emporium.ENOTFOUND},
		{name: "remove item of unknown wishlist", given: lists, cmd: removeWishlistItem("x1", "w9", "p1"), errCode: emporium.ENOTFOUND},
		{name: "remove wishlist item retried", given: with(lists, &pb.WishlistItemRemoved{CommandId: "x1", WishlistId: "w1", ProductId: "p1", At: ts(created)}),
			cmd: removeWishlistItem("x1", "w1", "p1")},
		{name: "remove wishlist item without command id", given: lists, cmd: removeWishlistItem("", "w1", "p1"),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "get wishlists", given: lists, cmd: &pb.GetWishlistsRequest{}},
		{name: "get one wishlist", given: lists, cmd: &pb.GetWishlistsRequest{WishlistId: "w2"}},
		{name: "get unknown wishlist", given: lists, cmd: &pb.GetWishlistsRequest{WishlistId: "w9"}, errCode: emporium.ENOTFOUND},
	})
}

func wishlistCreated(id, name string) *pb.WishlistCreated {
	return &pb.WishlistCreated{CommandId: id, WishlistId: id, Name: name, At: ts(created)}
}

func createWishlist(cmd, id, name string) *pb.CreateWishlistRequest {
	return &pb.CreateWishlistRequest{CommandId: cmd, WishlistId: id, Name: name}
}

func renameWishlist(cmd, id, name string) *pb.RenameWishlistRequest {
	return &pb.RenameWishlistRequest{CommandId: cmd, WishlistId: id, Name: name}
}

func addWishlistItem(cmd, id, productID, sku string) *pb.AddWishlistItemRequest {
	return &pb.AddWishlistItemRequest{CommandId: cmd, WishlistId: id, ProductId: productID, Sku: sku}
}

func removeWishlistItem(cmd, id, productID string) *pb.RemoveWishlistItemRequest {
	return &pb.RemoveWishlistItemRequest{CommandId: cmd, WishlistId: id, ProductId: productID}
}

func itemProducts(w *pb.Wishlist) []string {
	var ids []string
	for _, it := range w.Items {
		ids = append(ids, it.ProductId)
	}
	return ids
}

// TestWishlistNameRules: names are unique ignoring case only, and the
// limits count characters.
func TestWishlistNameRules(t *testing.T) {
	for _, in := range []string{"a", "Gifts", strings.Repeat("ü", MaxWishlistName), " Zoë's list "} {
		_, fe := cleanWishlistName(in)
		assert.Nil(t, fe, "%q", in)
	}
	for _, in := range []string{"", " ", strings.Repeat("x", MaxWishlistName+1), "a\tb", "a\x00b", "\xff"} {
		_, fe := cleanWishlistName(in)
		assert.NotNil(t, fe, "%q", in)
	}
	assert.Equal(t, WishlistNameKey("GIFTS for Mum"), WishlistNameKey("gifts FOR mum"))
	assert.Equal(t, WishlistNameKey("\u212aelvin"), WishlistNameKey("kelvin"), "the Kelvin sign folds to k")
	assert.Equal(t, WishlistNameKey("Zoë"), WishlistNameKey("ZOË"))
	assert.NotEqual(t, WishlistNameKey("Gifts for mum"), WishlistNameKey("Gifts  for mum"), "only case is ignored")
	assert.NoError(t, CheckWishlistItem("0193a5c2-7f7e-7d3e-9c1a-1b2c3d4e5f60", "TEE-RED.XL_2"))
	assert.NoError(t, CheckWishlistItem("p1", ""))
	err := CheckWishlistItem("", "a b")
	assert.True(t, hasField(err, "product_id", emporium.FieldRequired))
	assert.True(t, hasField(err, "sku", emporium.FieldInvalid))
	assert.True(t, hasField(CheckWishlistItem(strings.Repeat("p", 65), ""), "product_id", emporium.FieldInvalid))
}

// TestWishlistsView: one list or all, copies of the state's.
func TestWishlistsView(t *testing.T) {
	s := given(registeredEv(), wishlistCreated("w1", "A"), wishlistCreated("w2", "B"),
		&pb.WishlistItemAdded{CommandId: "i", WishlistId: "w2", ProductId: "p1", At: ts(created)})
	all := wishlistsView(s, 7, "")
	assert.Equal(t, uint64(7), all.Seq)
	require.Len(t, all.Wishlists, 2)
	assert.Equal(t, []string{"w1", "w2"}, []string{all.Wishlists[0].Id, all.Wishlists[1].Id})
	one := wishlistsView(s, 7, "w2")
	require.Len(t, one.Wishlists, 1)
	assert.True(t, proto.Equal(s.Wishlists[1], one.Wishlists[0]))
	assert.Empty(t, wishlistsView(s, 7, "w9").Wishlists)

	before := proto.Clone(s)
	one.Wishlists[0].Name = "changed"
	one.Wishlists[0].Items[0].Sku = "changed"
	assert.True(t, proto.Equal(before, s), "the view shares the state's messages")
}
