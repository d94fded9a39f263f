package user

import (
	"fmt"
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
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

var (
	t0      = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	created = t0.Add(-time.Hour)
)

const (
	pw1    = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDE$aGFzaDE"
	pw2    = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI"
	secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

// tok is a token hash as auth.HashToken makes them.
func tok(n int) string { return fmt.Sprintf("%064x", n) }

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func recoveryHashes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%063x", i)
	}
	return out
}

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "u1", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	return actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
}

// with returns base followed by more, without sharing base's array.
func with(base []proto.Message, more ...proto.Message) []proto.Message {
	return append(slices.Clone(base), more...)
}

func registeredEv() *pb.Registered {
	return &pb.Registered{
		CommandId: "reg", Username: "Alice_1", UsernameKey: "alice_l",
		Email: "Alice@Example.com", EmailKey: "alice@example.com", PasswordHash: pw1,
		VerifyTokenHash: tok(1), VerifyExpiresAt: ts(created.Add(24 * time.Hour)), At: ts(created),
	}
}

func registerCmd() *pb.RegisterRequest {
	return &pb.RegisterRequest{
		CommandId: "reg", Username: "Alice_1", Email: "Alice@Example.com", PasswordHash: pw1,
		VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(24 * time.Hour)),
	}
}

func fields(name string) *pb.AddressFields {
	return &pb.AddressFields{FullName: name, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "us"}
}

func addr(id, name string, ship, bill bool, at time.Time) *pb.Address {
	return &pb.Address{
		Id: id, FullName: name, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US",
		IsDefaultShipping: ship, IsDefaultBilling: bill, CreatedAt: ts(at), UpdatedAt: ts(at),
	}
}

func added(cmd string, a *pb.Address) *pb.AddressAdded {
	return &pb.AddressAdded{CommandId: cmd, Address: a, At: a.CreatedAt}
}

type decideCase struct {
	name    string
	given   []proto.Message
	cmd     proto.Message
	want    []proto.Message
	errCode string
	// field and fieldCode, when set, must be among the error's fields.
	field, fieldCode string
	// check, when set, inspects the state after the events were applied.
	check func(t *testing.T, s *pb.State)
}

// Histories the decide tests start from: an account's events so far.
var (
	unverified = []proto.Message{registeredEv()}
	verified   = with(unverified, &pb.EmailVerified{CommandId: "v", At: ts(created)})
	resetting  = with(verified, &pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(30 * time.Minute))})
	changing   = with(verified, &pb.EmailChangeRequested{
		CommandId: "ec", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", TokenHash: tok(3),
		ExpiresAt: ts(t0.Add(time.Hour)), At: ts(created),
	})
	enrolling = with(verified, &pb.TOTPEnrollmentStarted{CommandId: "tb", Secret: secret})
	mfa       = with(enrolling, &pb.TOTPEnabled{CommandId: "tc", LastStep: 100, RecoveryCodeHashes: recoveryHashes(10), At: ts(created)})
	withAddrs = with(verified,
		added("a1", addr("a1", "Home", true, true, created)),
		added("a2", addr("a2", "Work", false, false, created)),
	)
	a1Removed = with(withAddrs, &pb.AddressRemoved{AddressId: "a1", DefaultShippingTo: "a2", DefaultBillingTo: "a2", At: ts(created)})
	// full holds MaxAddresses addresses.
	full = func() []proto.Message {
		h := slices.Clone(verified)
		for i := range MaxAddresses {
			id := fmt.Sprintf("f%d", i)
			h = append(h, added(id, addr(id, "Home", i == 0, i == 0, created)))
		}
		return h
	}()
	vendor = with(verified,
		&pb.StoreOpened{CommandId: "bv", StoreName: "Acme  Tools", StoreNameKey: StoreNameKey("Acme Tools"), Description: "Tools.", At: ts(created)},
		&pb.RoleGranted{Role: RoleVendor, At: ts(created)})
	lists = with(verified, wishlistCreated("w1", "Birthday"), wishlistCreated("w2", "Kitchen"),
		&pb.WishlistItemAdded{CommandId: "i1", WishlistId: "w1", ProductId: "p1", At: ts(created)},
		&pb.WishlistItemAdded{CommandId: "i2", WishlistId: "w1", ProductId: "p2", Sku: "P2-RED", At: ts(created)})
	// fullLists holds emporium.MaxWishlists wishlists.
	fullLists = func() []proto.Message {
		h := slices.Clone(verified)
		for i := range emporium.MaxWishlists {
			h = append(h, wishlistCreated(fmt.Sprintf("f%d", i), fmt.Sprintf("List %d", i)))
		}
		return h
	}()
	// fullItems holds one wishlist of emporium.MaxWishlistItems items.
	fullItems = func() []proto.Message {
		h := with(verified, wishlistCreated("w1", "Everything"))
		for i := range emporium.MaxWishlistItems {
			h = append(h, &pb.WishlistItemAdded{CommandId: fmt.Sprintf("i%d", i), WishlistId: "w1",
				ProductId: fmt.Sprintf("p%d", i), At: ts(created)})
		}
		return h
	}()
	// at0 is t0 as the events of a decision at t0 carry it.
	at0 = ts(t0)
)

// TestDecideReads checks decide on the queries and on an unknown command.
func TestDecideReads(t *testing.T) {
	runDecide(t, []decideCase{
		// Reads and the unknown.
		{name: "get", given: verified, cmd: &pb.GetRequest{}},
		{name: "get credentials", given: verified, cmd: &pb.GetCredentialsRequest{}},
		{name: "unknown command", given: verified, cmd: &pb.Account{}, errCode: emporium.EINTERNAL},
	})
}

// runDecide runs decide on each case's history and checks its events or
// its refusal, and that decide left the state as it was.
func runDecide(t *testing.T, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.Clone(s)
			got, err := decideAsShell(s, tt.cmd, t0)
			assert.True(t, proto.Equal(before, s), "decide changed the state")
			if tt.errCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(err), "error: %v", err)
				assert.NotEmpty(t, emporium.ErrorMessage(err))
				assert.Empty(t, got, "a refusal has no events")
				if tt.field != "" {
					assert.True(t, hasField(err, tt.field, tt.fieldCode), "want field %s (%s) in %+v", tt.field, tt.fieldCode, emporium.ErrorFields(err))
				}
				if tt.errCode == emporium.EINVALID {
					assert.NotEmpty(t, emporium.ErrorFields(err), "validation errors name their fields")
				}
				return
			}
			require.NoError(t, err)
			assert.Empty(t, actorstest.DiffEvents(tt.want, got))
			for _, ev := range got {
				Spec.Fold(s, ev)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func hasField(err error, field, code string) bool {
	for _, f := range emporium.ErrorFields(err) {
		if f.Field == field && (code == "" || f.Code == code) {
			return true
		}
	}
	return false
}

// TestUnregisteredAccountIsNotFound: everything but Register is not_found
// before the account exists.
func TestUnregisteredAccountIsNotFound(t *testing.T) {
	cmds := []proto.Message{
		&pb.IssueVerificationRequest{CommandId: "c", TokenHash: tok(1), ExpiresAt: ts(t0.Add(time.Hour))},
		&pb.VerifyEmailRequest{CommandId: "c", TokenHash: tok(1)},
		&pb.StartPasswordResetRequest{CommandId: "c", TokenHash: tok(1), ExpiresAt: ts(t0.Add(time.Hour))},
		&pb.ResetPasswordRequest{CommandId: "c", TokenHash: tok(1), PasswordHash: pw1},
		&pb.ChangePasswordRequest{CommandId: "c", CurrentPasswordOk: true, PasswordHash: pw1},
		&pb.UpdateProfileRequest{CommandId: "c", Name: wrapperspb.String("x")},
		&pb.RequestEmailChangeRequest{CommandId: "c", NewEmail: "a@b.io", TokenHash: tok(1), ExpiresAt: ts(t0.Add(time.Hour))},
		&pb.BeginTOTPRequest{CommandId: "c", Secret: secret},
		&pb.ConfirmTOTPRequest{CommandId: "c", CodeStep: 1, CodeOk: true, RecoveryCodeHashes: recoveryHashes(1)},
		&pb.UseTOTPRequest{CommandId: "c", Step: 1},
		&pb.UseRecoveryCodeRequest{CommandId: "c"},
		&pb.DisableTOTPRequest{CommandId: "c", PasswordOk: true, CodeOk: true, CodeStep: 1},
		&pb.AddAddressRequest{CommandId: "c", AddressId: "a", Address: fields("x")},
		&pb.UpdateAddressRequest{AddressId: "a", Address: fields("x")},
		&pb.RemoveAddressRequest{AddressId: "a"},
		&pb.GrantRoleRequest{CommandId: "c", Role: RoleAdmin},
		becomeVendor("c", "Acme", ""),
		createWishlist("c", "w", "A"),
		renameWishlist("c", "w", "B"),
		&pb.DeleteWishlistRequest{CommandId: "c", WishlistId: "w"},
		addWishlistItem("c", "w", "p", ""),
		removeWishlistItem("c", "w", "p"),
		&pb.GetWishlistsRequest{},
		&pb.GetRequest{},
		&pb.GetCredentialsRequest{},
	}
	// Every rpc of the service is covered.
	assert.Len(t, cmds, pb.File_userpb_user_proto.Services().ByName("UserGrain").Methods().Len()-1)
	for _, cmd := range cmds {
		events, err := decideAsShell(newState("u1"), cmd, t0)
		assert.Empty(t, events)
		assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "%T: %v", cmd, err)
	}
	events, err := decideAsShell(newState("u1"), registerCmd(), t0)
	require.NoError(t, err)
	assert.Len(t, events, 1)
}

// TestAccountViewHasNoSecrets checks the view's schema: no field of Account
// or of anything it holds can carry a password hash, a token hash, a TOTP
// secret or a recovery code hash. The property test checks its values.
func TestAccountViewHasNoSecrets(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := range md.Fields().Len() {
			f := md.Fields().Get(i)
			name := string(f.Name())
			for _, bad := range []string{"hash", "secret", "token", "password"} {
				assert.NotContains(t, name, bad, "%s.%s", md.FullName(), name)
			}
			if f.Message() != nil {
				walk(f.Message())
			}
		}
	}
	walk((&pb.Account{}).ProtoReflect().Descriptor())
	assert.True(t, seen["emporium.user.v1.Address"], "the walk reached the addresses")
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(registeredEv())
	for i := range actors.CommandsKept + removedAddressesKept + 10 {
		id := fmt.Sprintf("x%d", i)
		Spec.Fold(s, added(id, addr(id, "Home", true, true, t0)))
		Spec.Fold(s, &pb.AddressRemoved{AddressId: id, At: ts(t0)})
	}
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	assert.Len(t, s.RemovedAddresses, removedAddressesKept)
	events, err := decideAsShell(s, registerCmd(), t0)
	assert.NoError(t, err, "a late retry of Register is still recognised")
	assert.Empty(t, events)
}

func TestValidators(t *testing.T) {
	for _, u := range []string{"bob", "Alice_1", "a-b", strings.Repeat("x", 32)} {
		assert.NoError(t, CheckUsername(u), u)
	}
	for _, u := range []string{"", "ab", strings.Repeat("x", 33), "bob smith", "bøb", "bob!", "bob@x"} {
		assert.Error(t, CheckUsername(u), u)
	}
	for _, e := range []string{"a@b.io", "Alice.Smith+shop@Example.co.uk", "x@sub.example-host.com"} {
		assert.NoError(t, CheckEmail("email", e), e)
	}
	for _, e := range []string{"", "a", "a@b", "@b.io", "a@.io", "a@b..io", "a@-b.io", "a b@c.io", " a@b.io", "A <a@b.io>",
		"a@b.io,c@d.io", `"a"@b.io`, "a@@b.io", strings.Repeat("x", 65) + "@b.io", "a@" + strings.Repeat("x", 250) + ".io", "a@b.io\n"} {
		assert.Error(t, CheckEmail("email", e), "%q", e)
	}
	assert.Equal(t, "bob@example.com", EmailKey("Bob@Example.COM"))
	assert.Equal(t, "alice_l", UsernameKey("Alice_1"), "the confusables skeleton: a digit one is an l")
	assert.Equal(t, UsernameKey("alice_l"), UsernameKey("ALICE_1"), "case does not count")
	assert.Equal(t, "alice_1", LegacyUsernameKey("Alice_1"))
	for in, want := range map[string]string{"+14155550123": "+14155550123", "+44 20 7946 0958": "+442079460958",
		"+49-30-1234567": "+49301234567", " +1.415.555.0123 ": "+14155550123", "": ""} {
		got, fe := cleanPhone("phone", in)
		assert.Nil(t, fe, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"14155550123", "+123456", "+1234567890123456", "+0123456789", "+1 (415) 555-0123",
		"+1--4155550123", "+14155550123-", "+ 14155550123", "+1415555012x", "++14155550123"} {
		_, fe := cleanPhone("phone", in)
		assert.NotNil(t, fe, "%q", in)
	}
	for _, in := range []string{"12", "SW1A 1AA", "75002", "1234-567", "K1A 0B1", "123456789012"} {
		_, fe := cleanPostalCode(in)
		assert.Nil(t, fe, in)
	}
	for _, in := range []string{"", "1", "1234567890123", "12#45", "12_45", "１２３４５"} {
		_, fe := cleanPostalCode(in)
		assert.NotNil(t, fe, "%q", in)
	}
	assert.Len(t, countries, 249, "the officially assigned ISO 3166-1 alpha-2 codes")
	for _, c := range []string{"us", "DE", " gb ", "AQ", "SS", "XK"} {
		_, fe := cleanCountry(c)
		assert.Equal(t, c != "XK", fe == nil, c)
	}
	for _, c := range []string{"UK", "EU", "ZZ", "USA", "U"} {
		_, fe := cleanCountry(c)
		assert.NotNil(t, fe, c)
	}
	assert.True(t, validTOTPSecret(secret))
	assert.False(t, validTOTPSecret("jbswy3dpehpk3pxp"), "lower case is not what auth.NewTOTP makes")
	assert.False(t, validTOTPSecret("JBSWY3DPEHPK3PX"), "too short")
}
