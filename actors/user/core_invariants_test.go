package user

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestRandomCommandsKeepInvariants drives the core with random commands,
// many of them aimed at the state the way a shell would (the pending token,
// an existing address or wishlist), some repeated as Proto.Actor's retries
// would be, and checks after each that the rules hold: exactly one default
// shipping and one default billing address whenever any exists, at most 20
// addresses, customer always a role, the wishlist rules (checkWishlists), the
// view free of secrets, retries of applied commands answered from state, and
// replaying the events gives the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	knownCodes := []string{emporium.EINVALID, emporium.EUNAUTHENTICATED, emporium.ENOTFOUND, emporium.ECONFLICT, emporium.EUNVERIFIED}
	kinds := map[string]int{} // events seen, by type, so the test proves it reached every rule
	fullRuns := 0             // runs that reached MaxAddresses
	for seed := range uint64(24) {
		r := rand.New(rand.NewPCG(seed, 2))
		s := newState("u-rand")
		var journal, snapshots []proto.Message
		var sent []proto.Message
		applied := map[string]bool{} // command ids that produced events
		mostAddresses := 0
		var joined *timestamppb.Timestamp // the store's first opening
		now := t0
		for step := range 700 {
			now = now.Add(time.Duration(r.IntN(20)) * time.Minute)
			var cmd proto.Message
			retry := step > 0 && r.IntN(8) == 0 && len(sent) > 0
			if retry {
				cmd = sent[len(sent)-1-r.IntN(min(len(sent), 5))]
			} else {
				cmd = randomCommand(r, s, step, now)
			}
			sent = append(sent, cmd)
			before := proto.Clone(s)
			events, err := decideAsShell(s, cmd, now)
			require.True(t, proto.Equal(before, s), "seed %d step %d: decide changed the state", seed, step)
			if err != nil {
				require.Empty(t, events)
				code := emporium.ErrorCode(err)
				require.Contains(t, knownCodes, code, "seed %d step %d %T: %v", seed, step, cmd, err)
				if code == emporium.EINVALID {
					require.NotEmpty(t, emporium.ErrorFields(err))
				}
			}
			if id := commandID(cmd); retry && id != "" && applied[id] {
				require.NoError(t, err, "seed %d step %d: retry of %T %s", seed, step, cmd, id)
				require.Empty(t, events, "seed %d step %d: retry of %T %s applied twice", seed, step, cmd, id)
			}
			for _, ev := range events {
				Spec.Fold(s, ev)
				journal = append(journal, ev)
				snapshots = append(snapshots, proto.Clone(ev))
				kinds[string(ev.ProtoReflect().Descriptor().Name())]++
			}
			if id := commandID(cmd); len(events) > 0 && id != "" {
				applied[id] = true
			}
			if s.Store != nil {
				if joined == nil {
					joined = proto.CloneOf(s.Store.JoinedAt)
				}
				require.True(t, proto.Equal(joined, s.Store.JoinedAt), "seed %d step %d: joined_at moved", seed, step)
			}
			checkInvariants(t, s, now, step%10 == 0, fmt.Sprintf("seed %d step %d after %T", seed, step, cmd))
			mostAddresses = max(mostAddresses, len(s.Addresses))
		}
		fullRuns += min(mostAddresses/MaxAddresses, 1)
		for i := range journal {
			require.True(t, proto.Equal(snapshots[i], journal[i]), "seed %d: apply changed event %d", seed, i)
		}
		replayed := newState("u-rand")
		for _, ev := range journal {
			Spec.Fold(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
		require.True(t, registered(s), "seed %d registered", seed)
	}
	msgs := pb.File_userpb_user_proto.Messages()
	for i := range msgs.Len() {
		name := string(msgs.Get(i).Name())
		if msgs.Get(i).Fields().ByName("at") != nil || strings.HasSuffix(name, "Issued") || strings.HasPrefix(name, "TOTP") ||
			name == "RecoveryCodeUsed" {
			assert.Positive(t, kinds[name], "no %s event in any run", name)
		}
	}
	assert.Positive(t, fullRuns, "no run reached %d addresses", MaxAddresses)
	t.Logf("events: %v; %d runs reached %d addresses", kinds, fullRuns, MaxAddresses)
}

// checkInvariants checks the rules on s; deep adds the costlier checks.
func checkInvariants(t *testing.T, s *pb.State, now time.Time, deep bool, where string) {
	t.Helper()
	require.LessOrEqual(t, len(s.Addresses), MaxAddresses, where)
	if len(s.Addresses) > 0 {
		require.Len(t, defaults(s, true), 1, "%s: default shipping", where)
		require.Len(t, defaults(s, false), 1, "%s: default billing", where)
	}
	ids := map[string]bool{}
	for _, a := range s.Addresses {
		if ids[a.Id] || slices.Contains(s.RemovedAddresses, a.Id) {
			require.Failf(t, "address id reused", "%s: %s", where, a.Id)
		}
		ids[a.Id] = true
	}
	require.LessOrEqual(t, len(s.RecentCommands), actors.CommandsKept, where)
	if !registered(s) {
		return
	}
	require.Contains(t, s.Roles, RoleCustomer, where)
	require.Equal(t, len(s.Roles), len(slices.Compact(slices.Sorted(slices.Values(s.Roles)))), "%s: roles repeat", where)
	require.Equal(t, s.MfaEnabled, s.TotpSecret != "", where)
	if s.Store != nil {
		require.Contains(t, s.Roles, RoleVendor, "%s: a store without the vendor role", where)
		require.Equal(t, StoreNameKey(s.Store.StoreName), s.StoreNameKey, where)
		_, fe := cleanStoreName(s.Store.StoreName)
		require.Nil(t, fe, "%s: stored store name %q", where, s.Store.StoreName)
		require.False(t, s.Store.JoinedAt.AsTime().After(s.Store.UpdatedAt.AsTime()), where)
		v, ok := vendorView(s)
		require.True(t, ok, where)
		require.Equal(t, VendorView{StoreName: s.Store.StoreName, Description: s.Store.Description, JoinedAt: s.Store.JoinedAt.AsTime()}, v, where)
	} else {
		require.Empty(t, s.StoreNameKey, where)
	}
	checkWishlists(t, s, deep, where)
	// No secret of the state appears anywhere in the view.
	secrets := []string{s.PasswordHash, s.TotpSecret, s.PendingTotpSecret}
	secrets = append(secrets, s.RecoveryCodeHashes...)
	for _, tk := range []*pb.OneTimeToken{s.Verification, s.PasswordReset} {
		secrets = append(secrets, tk.GetTokenHash())
	}
	secrets = append(secrets, s.EmailChange.GetTokenHash())
	view := account(s, 1, now)
	forEachString(view.ProtoReflect(), func(v string) {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(v, sec) {
				require.Failf(t, "the view shows a secret", "%s: %q holds %q", where, v, sec)
			}
		}
	})
	if !deep {
		return
	}
	// The view is a copy: changing it leaves the state alone.
	before := proto.Clone(s)
	for _, a := range view.Addresses {
		a.FullName = "changed"
	}
	view.Roles = append(view.Roles[:0], "changed")
	for _, w := range wishlistsView(s, 1, "").Wishlists {
		w.Name = "changed"
		for _, it := range w.Items {
			it.Sku = "changed"
		}
	}
	require.True(t, proto.Equal(before, s), "%s: the view shares the state's messages", where)
}

// checkWishlists checks the wishlist rules on s: the limits, unique ids and
// names (ignoring case), one item per product, clean stored values, times
// in order; deep adds that the view shows them all as they are.
func checkWishlists(t *testing.T, s *pb.State, deep bool, where string) {
	t.Helper()
	require.LessOrEqual(t, len(s.Wishlists), emporium.MaxWishlists, where)
	ids, keys := map[string]bool{}, map[string]bool{}
	for _, w := range s.Wishlists {
		require.True(t, validKey(w.Id, maxWishlistIDLen, "_-"), "%s: wishlist id %q", where, w.Id)
		require.False(t, ids[w.Id], "%s: wishlist id %s twice", where, w.Id)
		ids[w.Id] = true
		name, fe := cleanWishlistName(w.Name)
		require.Nil(t, fe, "%s: stored name %q", where, w.Name)
		require.Equal(t, name, w.Name, "%s: stored name not trimmed", where)
		require.False(t, keys[WishlistNameKey(w.Name)], "%s: name %q twice", where, w.Name)
		keys[WishlistNameKey(w.Name)] = true
		require.False(t, w.CreatedAt.AsTime().After(w.UpdatedAt.AsTime()), where)
		require.LessOrEqual(t, len(w.Items), emporium.MaxWishlistItems, where)
		products := map[string]bool{}
		for _, it := range w.Items {
			require.NoError(t, CheckWishlistItem(it.ProductId, it.Sku), where)
			require.False(t, products[it.ProductId], "%s: product %s twice in %s", where, it.ProductId, w.Id)
			products[it.ProductId] = true
			require.False(t, it.AddedAt.AsTime().After(w.UpdatedAt.AsTime()), where)
			require.False(t, it.AddedAt.AsTime().Before(w.CreatedAt.AsTime()), where)
		}
	}
	if !deep {
		return
	}
	view := wishlistsView(s, 1, "")
	require.Len(t, view.Wishlists, len(s.Wishlists), where)
	for i, w := range view.Wishlists {
		require.True(t, proto.Equal(s.Wishlists[i], w), where)
	}
}

// forEachString calls fn with every string value in m, nested or repeated.
func forEachString(m protoreflect.Message, fn func(string)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if fd.Message() != nil {
					forEachString(l.Get(i).Message(), fn)
				} else if fd.Kind() == protoreflect.StringKind {
					fn(l.Get(i).String())
				}
			}
		case fd.Message() != nil:
			forEachString(v.Message(), fn)
		case fd.Kind() == protoreflect.StringKind:
			fn(v.String())
		}
		return true
	})
}

func commandID(cmd proto.Message) string {
	if c, ok := cmd.(interface{ GetCommandId() string }); ok {
		return c.GetCommandId()
	}
	return ""
}

// randomCommand makes a command as a shell might send it, aimed at the
// state often enough for the happy paths to run.
func randomCommand(r *rand.Rand, s *pb.State, step int, now time.Time) proto.Message {
	id := fmt.Sprintf("c%d", step)
	exp := func(max time.Duration) *timestamppb.Timestamp {
		if r.IntN(10) == 0 {
			return ts(now.Add(-time.Minute)) // refused
		}
		return ts(now.Add(time.Duration(1 + r.Int64N(int64(max)))).Truncate(time.Second))
	}
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	pendingHash := func() string {
		switch r.IntN(4) {
		case 0:
			return s.GetVerification().GetTokenHash()
		case 1:
			return s.GetEmailChange().GetTokenHash()
		case 2:
			return s.GetPasswordReset().GetTokenHash()
		default:
			return tok(r.IntN(3))
		}
	}
	addressID := func() string {
		if len(s.Addresses) > 0 && r.IntN(4) > 0 {
			return s.Addresses[r.IntN(len(s.Addresses))].Id
		}
		if len(s.RemovedAddresses) > 0 && r.IntN(2) == 0 {
			return s.RemovedAddresses[r.IntN(len(s.RemovedAddresses))]
		}
		return fmt.Sprintf("a%d", r.IntN(1000))
	}
	randomFields := func() *pb.AddressFields {
		f := fields(pick("Home", "Work", "Cabin"))
		f.Country = pick("us", "DE", "fr")
		f.PostalCode = pick("12345", "SW1A 1AA")
		f.Phone = pick("", "+14155550123")
		switch r.IntN(12) { // now and then, one bad field
		case 0:
			f.FullName = ""
		case 1:
			f.Country = "UK"
		case 2:
			f.PostalCode = "1"
		case 3:
			f.Phone = "555"
		}
		for _, flag := range []**wrapperspb.BoolValue{&f.IsDefaultShipping, &f.IsDefaultBilling} {
			switch r.IntN(3) {
			case 0:
				*flag = wrapperspb.Bool(true)
			case 1:
				*flag = wrapperspb.Bool(false)
			}
		}
		return f
	}
	if !registered(s) && r.IntN(3) > 0 {
		return &pb.RegisterRequest{CommandId: id, Username: "user_" + id, Email: id + "@example.com", PasswordHash: pw1,
			VerifyTokenHash: tok(1000 + step), VerifyExpiresAt: exp(MaxVerificationTTL)}
	}
	wishlistID := func() string {
		if len(s.Wishlists) > 0 && r.IntN(5) > 0 {
			return s.Wishlists[r.IntN(len(s.Wishlists))].Id
		}
		return fmt.Sprintf("w%d", r.IntN(1000))
	}
	wishlistName := func() string {
		return pick("Gifts", "GIFTS ", "Kitchen", " Books", "Zoë's", "Zoë's 2", "", strings.Repeat("n", MaxWishlistName+1))
	}
	productID := func() string { return pick("p1", "p2", "p3", "p4", "p5", "p6", "p 7", "") }
	switch r.IntN(32) {
	case 0:
		return &pb.RegisterRequest{CommandId: id, Username: "again", Email: "again@example.com", PasswordHash: pw1,
			VerifyTokenHash: tok(step), VerifyExpiresAt: exp(MaxVerificationTTL)}
	case 1:
		return &pb.IssueVerificationRequest{CommandId: id, TokenHash: tok(1000 + step), ExpiresAt: exp(MaxVerificationTTL)}
	case 2, 3:
		return &pb.VerifyEmailRequest{CommandId: id, TokenHash: pendingHash()}
	case 4:
		return &pb.StartPasswordResetRequest{CommandId: id, TokenHash: tok(1000 + step), ExpiresAt: exp(MaxResetTTL)}
	case 5:
		return &pb.ResetPasswordRequest{CommandId: id, TokenHash: pendingHash(), PasswordHash: pick(pw1, pw2, "plain")}
	case 6:
		return &pb.ChangePasswordRequest{CommandId: id, CurrentPasswordOk: r.IntN(3) > 0, PasswordHash: pick(pw1, pw2)}
	case 7:
		c := &pb.UpdateProfileRequest{CommandId: id}
		if r.IntN(2) == 0 {
			c.Name = wrapperspb.String(pick("", "Ann", strings.Repeat("n", 101)))
		}
		if r.IntN(2) == 0 {
			c.Phone = wrapperspb.String(pick("", "+442079460958", "12"))
		}
		return c
	case 8:
		return &pb.RequestEmailChangeRequest{CommandId: id, NewEmail: pick("new@example.com", s.Email, "bad"),
			TokenHash: tok(1000 + step), ExpiresAt: exp(MaxVerificationTTL)}
	case 9:
		return &pb.BeginTOTPRequest{CommandId: id, Secret: pick(secret, "ABCDEFGHIJKLMNOP", "bad")}
	case 10:
		return &pb.ConfirmTOTPRequest{CommandId: id, CodeStep: s.LastStep + int64(r.IntN(3)), CodeOk: r.IntN(4) > 0,
			RecoveryCodeHashes: recoveryHashes(r.IntN(11))}
	case 11, 12:
		return &pb.UseTOTPRequest{CommandId: id, Step: s.LastStep + int64(r.IntN(4)) - 1}
	case 13:
		return &pb.UseRecoveryCodeRequest{CommandId: id, Index: int32(r.IntN(12)) - 1}
	case 14:
		return &pb.DisableTOTPRequest{CommandId: id, PasswordOk: r.IntN(4) > 0, CodeOk: r.IntN(4) > 0,
			CodeStep: s.LastStep + int64(r.IntN(3))}
	case 15, 16, 17:
		aid := fmt.Sprintf("a%d", step)
		if r.IntN(8) == 0 {
			aid = addressID()
		}
		return &pb.AddAddressRequest{CommandId: id, AddressId: aid, Address: randomFields()}
	case 18:
		return &pb.UpdateAddressRequest{AddressId: addressID(), Address: randomFields()}
	case 19:
		return &pb.RemoveAddressRequest{AddressId: addressID()}
	case 20:
		return &pb.GrantRoleRequest{CommandId: id, Role: pick(RoleCustomer, RoleVendor, RoleAdmin, "root")}
	case 21, 22:
		if s.Store != nil && r.IntN(3) == 0 { // the same values again
			return becomeVendor(id, " "+s.Store.StoreName, s.Store.Description)
		}
		return becomeVendor(id, pick("Acme", "ACME", "Acme Tools", "Zoë's", "x", ""), pick("", "Tools.", "bell\a"))
	case 23, 24:
		wid := fmt.Sprintf("w%d", step)
		if r.IntN(8) == 0 {
			wid = wishlistID()
		}
		return createWishlist(id, wid, wishlistName())
	case 25:
		return renameWishlist(id, wishlistID(), wishlistName())
	case 26:
		wid := fmt.Sprintf("w%d", r.IntN(1000))
		if r.IntN(3) == 0 { // rarely, so that lists grow
			wid = wishlistID()
		}
		return &pb.DeleteWishlistRequest{CommandId: id, WishlistId: wid}
	case 27, 28, 29:
		return addWishlistItem(id, wishlistID(), productID(), pick("", "SKU-1", "SKU-2", "bad sku"))
	case 30:
		return removeWishlistItem(id, wishlistID(), productID())
	case 31:
		return &pb.GetWishlistsRequest{WishlistId: pick("", wishlistID())}
	default:
		return &pb.GetRequest{}
	}
}
