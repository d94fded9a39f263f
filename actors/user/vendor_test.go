package user_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// The vendor store profile through the real grain: one cluster member over
// the embedded store, with store name claims and the vendors read model.

func users(id string) *pb.UserGrainGrainClient { return pb.GetUserGrainGrainClient(member, id) }

// registered creates an account through the grain alone (no username or
// email claims: the store profile does not need them), verified or not.
func registered(t *testing.T, prefix string, verified bool) string {
	t.Helper()
	id := fmt.Sprintf("%s-%d", prefix, seq.Add(1))
	_, err := users(id).Register(&pb.RegisterRequest{
		CommandId: "reg", Username: "u_" + id, Email: id + "@example.com",
		PasswordHash:    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		VerifyTokenHash: "verify-" + id, VerifyExpiresAt: timestamppb.New(clock.Now().Add(time.Hour)),
	})
	require.NoError(t, err)
	if verified {
		_, err = users(id).VerifyEmail(&pb.VerifyEmailRequest{CommandId: "verify", TokenHash: "verify-" + id})
		require.NoError(t, err)
	}
	return id
}

// unique makes a store name no other test (or run of this one) uses.
func unique(name string) string { return fmt.Sprintf("%s %d", name, seq.Add(1)) }

func becomeVendor(id, commandID, name, description string) (*pb.Account, error) {
	return users(id).BecomeVendor(&pb.BecomeVendorRequest{CommandId: commandID, StoreName: name, Description: description})
}

// vendorView reads the vendors read model once every queued projection is
// stored; found is false when the vendor has no document.
func vendorView(t *testing.T, id string) (v user.VendorView, found bool) {
	t.Helper()
	require.NoError(t, store.Projections().Flush(t.Context()))
	_, err := store.Projections().Get(t.Context(), user.VendorsCollection, id, &v)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return user.VendorView{}, false
	}
	require.NoError(t, err)
	return v, true
}

// storeNameOwner answers who holds the claim of a store name, "" for nobody.
func storeNameOwner(t *testing.T, name string) string {
	t.Helper()
	owner, _, err := claims.Owner(t.Context(), user.StoreNamesCollection, user.StoreNameKey(name))
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return ""
	}
	require.NoError(t, err)
	return owner
}

func TestBecomeVendorOpensAndUpdatesTheStore(t *testing.T) {
	id := registered(t, "vendor", true)
	books, maps := unique("Corner Books"), unique("Corner Books & Maps")
	opened := clock.Now()
	acc, err := becomeVendor(id, "bv-1", "  "+books+" ", "Used books.\nOpen Sundays.")
	require.NoError(t, err)
	require.NotNil(t, acc.Store)
	assert.Equal(t, books, acc.Store.StoreName)
	assert.Equal(t, "Used books.\nOpen Sundays.", acc.Store.Description)
	assert.Equal(t, opened, acc.Store.JoinedAt.AsTime())
	assert.Equal(t, []string{user.RoleCustomer, user.RoleVendor}, acc.Roles)
	assert.Equal(t, id, storeNameOwner(t, strings.ToLower(books)))

	// A retry of the command, and the same values under a new command,
	// change nothing.
	again, err := becomeVendor(id, "bv-1", "Something else", "")
	require.NoError(t, err, "a retry is answered from state")
	assert.Equal(t, acc.Seq, again.Seq)
	assert.Equal(t, books, again.Store.StoreName)
	same, err := becomeVendor(id, "bv-2", books, "Used books.\nOpen Sundays.")
	require.NoError(t, err)
	assert.Equal(t, acc.Seq, same.Seq, "identical values append nothing")
	creds, err := users(id).GetCredentials(&pb.GetCredentialsRequest{})
	require.NoError(t, err)
	assert.Equal(t, []string{user.RoleCustomer, user.RoleVendor}, creds.Roles, "the role is granted once")

	v, found := vendorView(t, id)
	require.True(t, found)
	assert.Equal(t, user.VendorView{ID: id, StoreName: books, Description: "Used books.\nOpen Sundays.", JoinedAt: opened}, v)

	// A rename moves the claim and the read model; joined_at stays.
	advance(time.Minute)
	renamed, err := becomeVendor(id, "bv-3", maps, "")
	require.NoError(t, err)
	assert.Equal(t, maps, renamed.Store.StoreName)
	assert.Empty(t, renamed.Store.Description)
	assert.Equal(t, opened, renamed.Store.JoinedAt.AsTime())
	assert.Equal(t, clock.Now(), renamed.Store.UpdatedAt.AsTime())
	assert.Equal(t, acc.Seq+1, renamed.Seq, "one event: the role is held already")
	assert.Equal(t, id, storeNameOwner(t, maps))
	assert.Empty(t, storeNameOwner(t, books), "the old name was given up")
	v, _ = vendorView(t, id)
	assert.Equal(t, user.VendorView{ID: id, StoreName: maps, JoinedAt: opened}, v)

	st, err := user.Spec.Replay(t.Context(), store.Journal(), id)
	require.NoError(t, err)
	assert.Equal(t, maps, st.Store.StoreName)
	assert.Equal(t, opened, st.Store.JoinedAt.AsTime())
}

func TestStoreNameTakenByAnotherVendor(t *testing.T) {
	alice, bob := registered(t, "alice", true), registered(t, "bob", true)
	gadget, gizmo := unique("Gadget Hub"), unique("Gizmo Hub")
	_, err := becomeVendor(alice, "bv", gadget, "")
	require.NoError(t, err)
	bobBefore, err := users(bob).Get(&pb.GetRequest{})
	require.NoError(t, err)

	for _, name := range []string{gadget, " " + strings.ToUpper(gadget) + " ", strings.ReplaceAll(gadget, " ", "")} {
		_, err = becomeVendor(bob, "bv-"+name, name, "mine")
		require.Error(t, err, name)
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%q: %v", name, err)
		assert.Equal(t, []emporium.FieldError{{Field: "store_name", Code: emporium.FieldTaken, Message: "this store name is taken"}},
			emporium.ErrorFields(err), name)
	}
	bobAfter, err := users(bob).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Equal(t, bobBefore.Seq, bobAfter.Seq, "the refused account is unchanged")
	assert.Nil(t, bobAfter.Store)
	assert.Equal(t, []string{user.RoleCustomer}, bobAfter.Roles)
	_, found := vendorView(t, bob)
	assert.False(t, found)
	assert.Equal(t, alice, storeNameOwner(t, gadget))

	// Once Alice renames her store, the name is Bob's to take, and hers
	// cannot come back while he holds it.
	_, err = becomeVendor(alice, "bv-2", gizmo, "")
	require.NoError(t, err)
	acc, err := becomeVendor(bob, "bv-3", strings.ToLower(gadget), "mine")
	require.NoError(t, err)
	assert.Equal(t, strings.ToLower(gadget), acc.Store.StoreName)
	_, err = becomeVendor(alice, "bv-4", gadget, "")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, bob, storeNameOwner(t, gadget))
	a, err := users(alice).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Equal(t, gizmo, a.Store.StoreName, "a refused rename keeps the store")
	assert.Equal(t, alice, storeNameOwner(t, gizmo))
}

// TestStoreNameRace: of vendors racing for one name, exactly one gets it,
// and the losers keep nothing.
func TestStoreNameRace(t *testing.T) {
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = registered(t, "racer", true)
	}
	name := unique("Race Day Bikes")
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { _, errs[i] = becomeVendor(id, "bv", name, "") })
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		if err == nil {
			require.Empty(t, winner, "two vendors got the name")
			winner = ids[i]
			continue
		}
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
	}
	require.NotEmpty(t, winner)
	assert.Equal(t, winner, storeNameOwner(t, name))
	for _, id := range ids {
		acc, err := users(id).Get(&pb.GetRequest{})
		require.NoError(t, err)
		assert.Equal(t, id == winner, acc.Store != nil, id)
	}
}

func TestBecomeVendorRefusals(t *testing.T) {
	unverified := registered(t, "unverified", false)
	night := unique("Night Market")
	_, err := becomeVendor(unverified, "bv", night, "")
	assert.Equal(t, emporium.EUNVERIFIED, emporium.ErrorCode(err), "%v", err)
	acc, err := users(unverified).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Nil(t, acc.Store)
	assert.Equal(t, []string{user.RoleCustomer}, acc.Roles)
	assert.Empty(t, storeNameOwner(t, night), "a refused account claims nothing")

	_, err = becomeVendor("nobody-vendor", "bv", night, "")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%v", err)
	assert.Empty(t, storeNameOwner(t, night))

	id := registered(t, "invalid", true)
	_, err = becomeVendor(id, "bv", "N", string(make([]byte, user.MaxStoreDescription+1)))
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	fields := map[string]string{}
	for _, f := range emporium.ErrorFields(err) {
		fields[f.Field] = f.Code
	}
	assert.Equal(t, map[string]string{"store_name": emporium.FieldTooShort, "description": emporium.FieldInvalid}, fields)
	_, err = becomeVendor(id, "", night, "")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Empty(t, storeNameOwner(t, night))
}

// TestVendorSurvivesPassivation: a re-activated grain has the store, and
// writes the read model again (a crash may have lost the last write).
func TestVendorSurvivesPassivation(t *testing.T) {
	id := registered(t, "passive", true)
	coffee := unique("Slow Coffee")
	opened, err := becomeVendor(id, "bv", coffee, "Beans.")
	require.NoError(t, err)
	_, found := vendorView(t, id)
	require.True(t, found)
	persistencetest.Remove(t, store, user.VendorsCollection, id)

	require.NoError(t, member.ActorSystem.Root.PoisonFuture(member.Get(id, user.Kind)).Wait())
	acc, err := users(id).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Equal(t, opened.Seq, acc.Seq)
	assert.Equal(t, coffee, acc.Store.StoreName)
	assert.Equal(t, opened.Store.JoinedAt.AsTime(), acc.Store.JoinedAt.AsTime())
	actorstest.WaitFor(t, 10*time.Second, "the vendor view written again", func() bool {
		v, found := vendorView(t, id)
		return found && v.StoreName == coffee && v.Description == "Beans."
	})

	// The claim and the dedup survive too.
	again, err := becomeVendor(id, "bv", "Other", "")
	require.NoError(t, err)
	assert.Equal(t, opened.Seq, again.Seq)
	assert.Equal(t, id, storeNameOwner(t, coffee))
}

// TestLegacyStoreNameClaimsHold: a store name claimed under the key of the
// rule before the confusables skeleton (LegacyStoreNameKey) is still its
// owner's.
func TestLegacyStoreNameClaimsHold(t *testing.T) {
	alice, bob := registered(t, "alice", true), registered(t, "bob", true)
	name := unique("Old Mill Tools")
	require.NoError(t, claims.Claim(t.Context(), user.StoreNamesCollection, user.LegacyStoreNameKey(name), alice))
	_, err := becomeVendor(bob, "bv", strings.ToUpper(name), "")
	require.Error(t, err)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
	_, err = becomeVendor(alice, "bv", name, "")
	require.NoError(t, err, "its owner takes it")
}

// TestStoreNamedUnderTheLegacyRuleIsRekeyedAtActivation: a store whose state
// and claim still use the key of the rule before the confusables skeleton
// is re-keyed by its grain's next activation, after which a lookalike of
// its name is refused and the old key is free.
func TestStoreNamedUnderTheLegacyRuleIsRekeyedAtActivation(t *testing.T) {
	ctx := t.Context()
	alice, bob := registered(t, "alice", true), registered(t, "bob", true)
	name := unique("Old Mill Tools")
	acc, err := becomeVendor(alice, "bv", name, "Tools.")
	require.NoError(t, err)

	// Make alice's store what an earlier release left: its state and its
	// claim under the legacy key.
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(member.Get(alice, user.Kind)).Wait())
	legacy := user.LegacyStoreNameKey(name)
	_, err = store.Journal().Append(ctx, user.Spec.Stream(alice), acc.Seq, &pb.StoreUpdated{
		CommandId: "legacy", StoreName: name, StoreNameKey: legacy, Description: "Tools.", At: timestamppb.New(clock.Now()),
	})
	require.NoError(t, err)
	require.NoError(t, claims.Release(ctx, user.StoreNamesCollection, user.StoreNameKey(name), alice))
	require.NoError(t, claims.Claim(ctx, user.StoreNamesCollection, legacy, alice))
	require.Empty(t, storeNameOwner(t, name), "before: only the legacy key is claimed")

	_, err = users(alice).Get(&pb.GetRequest{}) // activates: Started re-keys
	require.NoError(t, err)
	assert.Equal(t, alice, storeNameOwner(t, name), "the store's key under the new rule is its owner's")
	_, _, err = claims.Owner(ctx, user.StoreNamesCollection, legacy)
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "the legacy key is given up: %v", err)

	lookalike := strings.Replace(name, "o", "\u043e", 1) // a Cyrillic о
	_, err = becomeVendor(bob, "bv", lookalike, "")
	require.Error(t, err, "a lookalike of a store named before the change is refused once re-keyed")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)

	again, err := users(alice).Get(&pb.GetRequest{})
	require.NoError(t, err)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(member.Get(alice, user.Kind)).Wait())
	after, err := users(alice).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Equal(t, again.Seq, after.Seq, "a re-keyed store is not re-keyed again")
}
