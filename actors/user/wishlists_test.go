package user_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/user"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// wishlistFixture is a service over the test member with its own catalogue
// and carts.
type wishlistFixture struct {
	svc   *user.WishlistService
	cat   *catalogue
	carts *carts
}

func newWishlists(t *testing.T) wishlistFixture {
	t.Helper()
	f := wishlistFixture{cat: newCatalogue(), carts: &carts{}}
	var err error
	f.svc, err = user.NewWishlistService(user.WishlistConfig{Cluster: member, Products: f.cat, Carts: f.carts})
	require.NoError(t, err)
	return f
}

// shopper registers an account and answers its principal.
func shopper(t *testing.T, prefix string) emporium.Principal {
	t.Helper()
	return emporium.Principal{UserID: registered(t, prefix, false), Roles: []string{user.RoleCustomer}}
}

func fieldCodes(err error) map[string]string {
	out := map[string]string{}
	for _, f := range emporium.ErrorFields(err) {
		out[f.Field] = f.Code
	}
	return out
}

// items answers a wishlist's items as product → SKU.
func items(t *testing.T, f wishlistFixture, p emporium.Principal, id string) map[string]string {
	t.Helper()
	w, err := f.svc.Wishlist(t.Context(), p, id)
	require.NoError(t, err)
	out := map[string]string{}
	for _, it := range w.Items {
		out[it.ProductID] = it.SKU
	}
	return out
}

func TestWishlistGrain(t *testing.T) {
	id := registered(t, "wlgrain", false)
	g := users(id)
	created, err := g.CreateWishlist(&pb.CreateWishlistRequest{CommandId: "c1", WishlistId: "w1", Name: " Gifts "})
	require.NoError(t, err)
	require.Len(t, created.Wishlists, 1)
	assert.Equal(t, "Gifts", created.Wishlists[0].Name)
	assert.Equal(t, clock.Now(), created.Wishlists[0].CreatedAt.AsTime())

	again, err := g.CreateWishlist(&pb.CreateWishlistRequest{CommandId: "c1", WishlistId: "w1", Name: "Other"})
	require.NoError(t, err, "a retry is answered from state")
	assert.True(t, proto.Equal(created, again))

	advance(time.Minute)
	added, err := g.AddWishlistItem(&pb.AddWishlistItemRequest{CommandId: "a1", WishlistId: "w1", ProductId: "mug"})
	require.NoError(t, err)
	assert.Equal(t, created.Seq+1, added.Seq)
	same, err := g.AddWishlistItem(&pb.AddWishlistItemRequest{CommandId: "a2", WishlistId: "w1", ProductId: "mug"})
	require.NoError(t, err)
	assert.Equal(t, added.Seq, same.Seq, "the same item again appends nothing")
	advance(time.Minute)
	chosen, err := g.AddWishlistItem(&pb.AddWishlistItemRequest{CommandId: "a3", WishlistId: "w1", ProductId: "mug", Sku: "MUG-1"})
	require.NoError(t, err)
	require.Len(t, chosen.Wishlists[0].Items, 1, "no duplicate")
	assert.Equal(t, "MUG-1", chosen.Wishlists[0].Items[0].Sku)
	assert.Equal(t, added.Wishlists[0].Items[0].AddedAt.AsTime(), chosen.Wishlists[0].Items[0].AddedAt.AsTime())
	assert.Equal(t, clock.Now(), chosen.Wishlists[0].UpdatedAt.AsTime())

	_, err = g.CreateWishlist(&pb.CreateWishlistRequest{CommandId: "c2", WishlistId: "w2", Name: "GIFTS"})
	assert.Equal(t, map[string]string{"name": emporium.FieldTaken}, fieldCodes(err))
	_, err = g.CreateWishlist(&pb.CreateWishlistRequest{CommandId: "c3", WishlistId: "w2", Name: "Kitchen"})
	require.NoError(t, err)
	renamed, err := g.RenameWishlist(&pb.RenameWishlistRequest{CommandId: "r1", WishlistId: "w2", Name: "Kitchen & bath"})
	require.NoError(t, err)
	require.Len(t, renamed.Wishlists, 1, "a command answers the list it names")
	assert.Equal(t, "Kitchen & bath", renamed.Wishlists[0].Name)

	all, err := g.GetWishlists(&pb.GetWishlistsRequest{})
	require.NoError(t, err)
	require.Len(t, all.Wishlists, 2)
	assert.Equal(t, []string{"w1", "w2"}, []string{all.Wishlists[0].Id, all.Wishlists[1].Id})
	_, err = g.GetWishlists(&pb.GetWishlistsRequest{WishlistId: "w9"})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(emporium.GrainCall("", err)))

	removed, err := g.RemoveWishlistItem(&pb.RemoveWishlistItemRequest{CommandId: "x1", WishlistId: "w1", ProductId: "mug"})
	require.NoError(t, err)
	assert.Empty(t, removed.Wishlists[0].Items)
	_, err = g.RemoveWishlistItem(&pb.RemoveWishlistItemRequest{CommandId: "x2", WishlistId: "w1", ProductId: "mug"})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(emporium.GrainCall("", err)))
	deleted, err := g.DeleteWishlist(&pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w1"})
	require.NoError(t, err)
	assert.Empty(t, deleted.Wishlists)
	retried, err := g.DeleteWishlist(&pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w1"})
	require.NoError(t, err, "a retried delete succeeds")
	assert.Equal(t, deleted.Seq, retried.Seq)

	// The lists survive passivation, and the journal alone rebuilds them.
	before, err := g.GetWishlists(&pb.GetWishlistsRequest{})
	require.NoError(t, err)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(member.Get(id, user.Kind)).Wait())
	after, err := g.GetWishlists(&pb.GetWishlistsRequest{})
	require.NoError(t, err)
	assert.True(t, proto.Equal(before, after), "before %v, after %v", before, after)
	st, err := user.Spec.Replay(t.Context(), store.Journal(), id)
	require.NoError(t, err)
	assert.True(t, proto.Equal(&pb.Wishlists{Wishlists: st.Wishlists, Seq: after.Seq}, after))
	again, err = g.CreateWishlist(&pb.CreateWishlistRequest{CommandId: "c1", WishlistId: "w1", Name: "Other"})
	require.NoError(t, err, "the dedup survives too")
	assert.Empty(t, again.Wishlists, "the list it created is gone")
	assert.Equal(t, after.Seq, again.Seq)
}

func TestWishlistsNeedAnAccount(t *testing.T) {
	f := newWishlists(t)
	nobody := emporium.Principal{UserID: "nobody-wishlists"}
	_, err := f.svc.CreateWishlist(t.Context(), nobody, "Gifts", "")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%v", err)
	_, err = f.svc.Wishlists(t.Context(), nobody)
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%v", err)
	_, err = f.svc.Wishlists(t.Context(), emporium.Principal{})
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
}

func TestWishlistsCreateRenameDelete(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	p := shopper(t, "wlcrud")
	lists, err := f.svc.Wishlists(ctx, p)
	require.NoError(t, err)
	assert.NotNil(t, lists, "an empty list, not null")
	assert.Empty(t, lists)

	gifts, err := f.svc.CreateWishlist(ctx, p, "  Birthday ideas ", "")
	require.NoError(t, err)
	assert.Equal(t, "Birthday ideas", gifts.Name)
	assert.NotEmpty(t, gifts.ID)
	assert.NotNil(t, gifts.Items)
	assert.Empty(t, gifts.Items)
	assert.Equal(t, clock.Now(), gifts.CreatedAt)

	for _, name := range []string{"birthday IDEAS", " Birthday ideas"} {
		_, err = f.svc.CreateWishlist(ctx, p, name, "")
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
		assert.Equal(t, map[string]string{"name": emporium.FieldTaken}, fieldCodes(err), name)
	}
	for name, code := range map[string]string{"": emporium.FieldRequired, "   ": emporium.FieldRequired,
		strings.Repeat("x", user.MaxWishlistName+1): emporium.FieldTooLong, "two\nlines": emporium.FieldInvalid} {
		_, err = f.svc.CreateWishlist(ctx, p, name, "")
		assert.Equal(t, map[string]string{"name": code}, fieldCodes(err), "%q", name)
	}
	kitchen, err := f.svc.CreateWishlist(ctx, p, "Kitchen", "")
	require.NoError(t, err)
	lists, err = f.svc.Wishlists(ctx, p)
	require.NoError(t, err)
	require.Len(t, lists, 2, "the refused names created nothing")
	assert.Equal(t, []string{gifts.ID, kitchen.ID}, []string{lists[0].ID, lists[1].ID})

	_, err = f.svc.RenameWishlist(ctx, p, kitchen.ID, "BIRTHDAY ideas")
	assert.Equal(t, map[string]string{"name": emporium.FieldTaken}, fieldCodes(err))
	renamed, err := f.svc.RenameWishlist(ctx, p, gifts.ID, "Birthday 2027")
	require.NoError(t, err)
	assert.Equal(t, "Birthday 2027", renamed.Name)
	assert.Equal(t, gifts.CreatedAt, renamed.CreatedAt)
	got, err := f.svc.Wishlist(ctx, p, gifts.ID)
	require.NoError(t, err)
	assert.Equal(t, renamed, got)
	restyled, err := f.svc.RenameWishlist(ctx, p, gifts.ID, "BIRTHDAY 2027")
	require.NoError(t, err, "its own name in another case is no clash")
	assert.Equal(t, "BIRTHDAY 2027", restyled.Name)
	_, err = f.svc.CreateWishlist(ctx, p, "Birthday ideas", "")
	require.NoError(t, err, "a name given up is free again")

	require.NoError(t, f.svc.DeleteWishlist(ctx, p, gifts.ID))
	for name, err := range map[string]error{
		"get":    second(f.svc.Wishlist(ctx, p, gifts.ID)),
		"rename": second(f.svc.RenameWishlist(ctx, p, gifts.ID, "Back")),
		"delete": f.svc.DeleteWishlist(ctx, p, gifts.ID),
		"empty":  second(f.svc.Wishlist(ctx, p, "")),
	} {
		assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%s: %v", name, err)
	}
	lists, err = f.svc.Wishlists(ctx, p)
	require.NoError(t, err)
	require.Len(t, lists, 2)
	assert.Equal(t, kitchen.ID, lists[0].ID)
}

func second[T any](_ T, err error) error { return err }

// TestCreateWishlistIdempotent: with a command id (an Idempotency-Key) a
// retry answers the list the first call created.
func TestCreateWishlistIdempotent(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	alice, bob := shopper(t, "wlidem"), shopper(t, "wlidem")
	first, err := f.svc.CreateWishlist(ctx, alice, "Gifts", "key-1")
	require.NoError(t, err)
	retry, err := f.svc.CreateWishlist(ctx, alice, "Something else", "key-1")
	require.NoError(t, err)
	assert.Equal(t, first, retry)
	lists, err := f.svc.Wishlists(ctx, alice)
	require.NoError(t, err)
	assert.Len(t, lists, 1)
	theirs, err := f.svc.CreateWishlist(ctx, bob, "Gifts", "key-1")
	require.NoError(t, err, "another user's key is another list")
	assert.NotEqual(t, first.ID, theirs.ID)

	require.NoError(t, f.svc.DeleteWishlist(ctx, alice, first.ID))
	_, err = f.svc.CreateWishlist(ctx, alice, "Gifts", "key-1")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "the list the key made is gone: %v", err)
}

func TestWishlistLimits(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	p := shopper(t, "wllimits")
	var first emporium.Wishlist
	for i := range emporium.MaxWishlists {
		w, err := f.svc.CreateWishlist(ctx, p, "List "+strings.Repeat("i", i+1), "")
		require.NoError(t, err)
		if i == 0 {
			first = w
		}
	}
	_, err := f.svc.CreateWishlist(ctx, p, "One too many", "")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, map[string]string{"wishlists": emporium.FieldTooMany}, fieldCodes(err))
	require.NoError(t, f.svc.DeleteWishlist(ctx, p, first.ID))
	_, err = f.svc.CreateWishlist(ctx, p, "One too many", "")
	require.NoError(t, err, "a deleted list makes room")

	// A list full of products (filled through the grain: the catalogue has
	// nothing to say about the limit) refuses one more, but still lets a
	// variant be chosen for a product it holds.
	q := shopper(t, "wllimits")
	list, err := f.svc.CreateWishlist(ctx, q, "Everything", "")
	require.NoError(t, err)
	for i := range emporium.MaxWishlistItems - 1 {
		_, err := users(q.UserID).AddWishlistItem(&pb.AddWishlistItemRequest{
			CommandId: fmt.Sprintf("fill-%d", i), WishlistId: list.ID, ProductId: fmt.Sprintf("bulk-%d", i),
		})
		require.NoError(t, err)
	}
	full, err := f.svc.AddWishlistItem(ctx, q, list.ID, emporium.WishlistItemInput{ProductID: "tee"})
	require.NoError(t, err, "the last place")
	assert.Len(t, full.Items, emporium.MaxWishlistItems)
	_, err = f.svc.AddWishlistItem(ctx, q, list.ID, emporium.WishlistItemInput{ProductID: "mug"})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, map[string]string{"items": emporium.FieldTooMany}, fieldCodes(err))
	chosen, err := f.svc.AddWishlistItem(ctx, q, list.ID, emporium.WishlistItemInput{ProductID: "tee", SKU: "TEE-M"})
	require.NoError(t, err)
	assert.Len(t, chosen.Items, emporium.MaxWishlistItems)
	assert.Equal(t, "TEE-M", items(t, f, q, list.ID)["tee"])
	assert.NotContains(t, items(t, f, q, list.ID), "mug")
}

func TestWishlistItems(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	p := shopper(t, "wlitems")
	list, err := f.svc.CreateWishlist(ctx, p, "Gifts", "")
	require.NoError(t, err)

	refusals := []struct {
		in     emporium.WishlistItemInput
		fields map[string]string
	}{
		{emporium.WishlistItemInput{ProductID: "nope"}, map[string]string{"product_id": emporium.FieldNotFound}},
		{emporium.WishlistItemInput{ProductID: "nope", SKU: "TEE-M"}, map[string]string{"product_id": emporium.FieldNotFound}},
		{emporium.WishlistItemInput{ProductID: "tee", SKU: "TEE-XL"}, map[string]string{"sku": emporium.FieldNotFound}},
		{emporium.WishlistItemInput{ProductID: "tee", SKU: "MUG-1"}, map[string]string{"sku": emporium.FieldNotFound}},
		{emporium.WishlistItemInput{}, map[string]string{"product_id": emporium.FieldRequired}},
		{emporium.WishlistItemInput{ProductID: "a b", SKU: "c d"}, map[string]string{"product_id": emporium.FieldInvalid, "sku": emporium.FieldInvalid}},
	}
	for _, r := range refusals {
		calls := f.cat.calls.Load()
		_, err := f.svc.AddWishlistItem(ctx, p, list.ID, r.in)
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%+v: %v", r.in, err)
		assert.Equal(t, r.fields, fieldCodes(err), "%+v", r.in)
		if r.fields["product_id"] != emporium.FieldNotFound && r.fields["sku"] != emporium.FieldNotFound {
			assert.Equal(t, calls, f.cat.calls.Load(), "%+v: bad syntax is refused before the catalogue is asked", r.in)
		}
	}
	_, err = f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "down"})
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	_, err = f.svc.AddWishlistItem(ctx, p, "w-unknown", emporium.WishlistItemInput{ProductID: "tee"})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	assert.Empty(t, items(t, f, p, list.ID), "nothing was added")

	added, err := f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "tee"})
	require.NoError(t, err)
	require.Len(t, added.Items, 1)
	assert.Equal(t, emporium.WishlistItem{ProductID: "tee", AddedAt: clock.Now()}, added.Items[0])
	advance(time.Minute)
	chosen, err := f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "tee", SKU: "TEE-M"})
	require.NoError(t, err)
	assert.Equal(t, []emporium.WishlistItem{{ProductID: "tee", SKU: "TEE-M", AddedAt: added.Items[0].AddedAt}}, chosen.Items,
		"the product once, with the variant chosen, added when it first was")
	again, err := f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "tee", SKU: "TEE-M"})
	require.NoError(t, err)
	assert.Equal(t, chosen, again)
	withMug, err := f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "mug", SKU: "MUG-1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"tee", "mug"}, []string{withMug.Items[0].ProductID, withMug.Items[1].ProductID})

	left, err := f.svc.RemoveWishlistItem(ctx, p, list.ID, "tee")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"mug": "MUG-1"}, items(t, f, p, list.ID))
	assert.Len(t, left.Items, 1)
	_, err = f.svc.RemoveWishlistItem(ctx, p, list.ID, "tee")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	_, err = f.svc.RemoveWishlistItem(ctx, p, "w-unknown", "mug")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	assert.Equal(t, map[string]string{"mug": "MUG-1"}, items(t, f, p, list.ID))
}

// TestAnotherUsersWishlistIsNotFound: the grain is the caller's, so another
// user's list id names nothing there.
func TestAnotherUsersWishlistIsNotFound(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	alice, bob := shopper(t, "wlalice"), shopper(t, "wlbob")
	list, err := f.svc.CreateWishlist(ctx, alice, "Gifts", "")
	require.NoError(t, err)
	_, err = f.svc.AddWishlistItem(ctx, alice, list.ID, emporium.WishlistItemInput{ProductID: "mug"})
	require.NoError(t, err)
	before, err := f.svc.Wishlist(ctx, alice, list.ID)
	require.NoError(t, err)

	for name, err := range map[string]error{
		"get":          second(f.svc.Wishlist(ctx, bob, list.ID)),
		"rename":       second(f.svc.RenameWishlist(ctx, bob, list.ID, "Mine")),
		"delete":       f.svc.DeleteWishlist(ctx, bob, list.ID),
		"add item":     second(f.svc.AddWishlistItem(ctx, bob, list.ID, emporium.WishlistItemInput{ProductID: "pen"})),
		"remove item":  second(f.svc.RemoveWishlistItem(ctx, bob, list.ID, "mug")),
		"move to cart": second(f.svc.MoveToCart(ctx, bob, list.ID, "mug")),
	} {
		assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%s: %v", name, err)
	}
	after, err := f.svc.Wishlist(ctx, alice, list.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after, "Alice's list is untouched")
	bobs, err := f.svc.Wishlists(ctx, bob)
	require.NoError(t, err)
	assert.Empty(t, bobs)
	_, adds := f.carts.quantities(bob.UserID)
	assert.Zero(t, adds)
}

func TestMoveToCart(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	p := shopper(t, "wlmove")
	list, err := f.svc.CreateWishlist(ctx, p, "Gifts", "")
	require.NoError(t, err)
	for _, in := range []emporium.WishlistItemInput{{ProductID: "mug"}, {ProductID: "tee", SKU: "TEE-L"}, {ProductID: "shirt"}, {ProductID: "pen"}} {
		_, err = f.svc.AddWishlistItem(ctx, p, list.ID, in)
		require.NoError(t, err)
	}

	// The only variant of a product without a chosen SKU.
	cart, err := f.svc.MoveToCart(ctx, p, list.ID, "mug")
	require.NoError(t, err)
	assert.Equal(t, int64(1), cart.ItemCount)
	qty, adds := f.carts.quantities(p.UserID)
	assert.Equal(t, map[string]int64{"MUG-1": 1}, qty)
	assert.Equal(t, 1, adds)
	assert.NotContains(t, items(t, f, p, list.ID), "mug")
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "mug")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "moved already")

	// The chosen variant.
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "tee")
	require.NoError(t, err)
	qty, _ = f.carts.quantities(p.UserID)
	assert.Equal(t, map[string]int64{"MUG-1": 1, "TEE-L": 1}, qty)

	// Several variants and none chosen: the client must choose.
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "shirt")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, map[string]string{"sku": emporium.FieldRequired}, fieldCodes(err))
	assert.Contains(t, emporium.ErrorMessage(err), "choose")

	// A product taken off sale since.
	f.cat.archive("pen")
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "pen")
	assert.Equal(t, map[string]string{"product_id": emporium.FieldNotFound}, fieldCodes(err))

	_, err = f.svc.MoveToCart(ctx, p, list.ID, "nothing")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	_, err = f.svc.MoveToCart(ctx, p, "w-unknown", "shirt")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	assert.Equal(t, map[string]string{"shirt": "", "pen": ""}, items(t, f, p, list.ID), "the refused items stay")
	_, adds = f.carts.quantities(p.UserID)
	assert.Equal(t, 2, adds)

	// Put back in the list later, the product is a new wish: it moves again.
	advance(time.Minute)
	_, err = f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "mug"})
	require.NoError(t, err)
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "mug")
	require.NoError(t, err)
	qty, _ = f.carts.quantities(p.UserID)
	assert.Equal(t, int64(2), qty["MUG-1"])
}

func TestMoveToCartKeepsTheItemWhenTheCartRefuses(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	p := shopper(t, "wlrefuse")
	list, err := f.svc.CreateWishlist(ctx, p, "Gifts", "")
	require.NoError(t, err)
	_, err = f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "tee", SKU: "TEE-S"})
	require.NoError(t, err)
	before, err := f.svc.Wishlist(ctx, p, list.ID)
	require.NoError(t, err)

	f.carts.refuse = emporium.Errorf(emporium.EOUTOFSTOCK, "only 0 left")
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "tee")
	assert.Equal(t, emporium.EOUTOFSTOCK, emporium.ErrorCode(err))
	assert.Equal(t, "only 0 left", emporium.ErrorMessage(err), "the cart's answer as it gave it")
	after, err := f.svc.Wishlist(ctx, p, list.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the item stays")

	f.carts.refuse = nil
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "tee")
	require.NoError(t, err)
	qty, adds := f.carts.quantities(p.UserID)
	assert.Equal(t, map[string]int64{"TEE-S": 1}, qty)
	assert.Equal(t, 1, adds)
	assert.Empty(t, items(t, f, p, list.ID))
}

// TestMoveToCartRetriedAddsOnce: whichever step fails, a retried move adds
// the unit once and removes the item once.
func TestMoveToCartRetriedAddsOnce(t *testing.T) {
	ctx := t.Context()
	f := newWishlists(t)
	p := shopper(t, "wlretry")
	list, err := f.svc.CreateWishlist(ctx, p, "Gifts", "")
	require.NoError(t, err)
	for _, id := range []string{"mug", "pen", "tee"} {
		_, err = f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: id})
		require.NoError(t, err)
	}
	_, err = f.svc.AddWishlistItem(ctx, p, list.ID, emporium.WishlistItemInput{ProductID: "tee", SKU: "TEE-M"})
	require.NoError(t, err)

	// The cart took the unit but its answer was lost.
	f.carts.lose = 1
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "mug")
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.Contains(t, items(t, f, p, list.ID), "mug", "not removed before the cart answered")
	cart, err := f.svc.MoveToCart(ctx, p, list.ID, "mug")
	require.NoError(t, err)
	assert.Equal(t, int64(1), cart.ItemCount)
	assert.NotContains(t, items(t, f, p, list.ID), "mug")

	// The cart took the unit, then removing the item failed.
	journal.FailNext(user.Spec.Stream(p.UserID), 1)
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "pen")
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	assert.Contains(t, items(t, f, p, list.ID), "pen", "the item stays")
	qty, _ := f.carts.quantities(p.UserID)
	assert.Equal(t, int64(1), qty["PEN-1"])
	_, err = f.svc.MoveToCart(ctx, p, list.ID, "pen")
	require.NoError(t, err)
	assert.NotContains(t, items(t, f, p, list.ID), "pen")

	// Moves racing (a double click): one unit, one removal.
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = f.svc.MoveToCart(ctx, p, list.ID, "tee") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "a late racer finds it moved: %v", err)
	}
	assert.Positive(t, ok)
	assert.Empty(t, items(t, f, p, list.ID))

	qty, adds := f.carts.quantities(p.UserID)
	assert.Equal(t, map[string]int64{"MUG-1": 1, "PEN-1": 1, "TEE-M": 1}, qty)
	assert.Equal(t, 3, adds)
	w, err := users(p.UserID).GetWishlists(&pb.GetWishlistsRequest{WishlistId: list.ID})
	require.NoError(t, err)
	st, err := user.Spec.Replay(ctx, store.Journal(), p.UserID)
	require.NoError(t, err)
	assert.True(t, proto.Equal(st.Wishlists[0], w.Wishlists[0]), "the grain agrees with its journal")
}
