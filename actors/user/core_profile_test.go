package user

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestDecideProfile checks decide on UpdateProfile, RequestEmailChange, GrantRole and BecomeVendor.
func TestDecideProfile(t *testing.T) {
	runDecide(t, []decideCase{
		// UpdateProfile.
		{name: "update profile", given: verified,
			cmd: &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("  Alice Liddell "), Phone: wrapperspb.String("+1 415-555.0123")},
			want: []proto.Message{&pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String("Alice Liddell"),
				Phone: wrapperspb.String("+14155550123"), At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, "Alice Liddell", s.Name)
				assert.Equal(t, "+14155550123", s.Phone)
				assert.Equal(t, at0.AsTime(), s.UpdatedAt.AsTime())
			}},
		{name: "update profile name only",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Phone: wrapperspb.String("+14155550123"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up2", Name: wrapperspb.String("Ally")},
			want:  []proto.Message{&pb.ProfileUpdated{CommandId: "up2", Name: wrapperspb.String("Ally"), At: at0}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, "+14155550123", s.Phone, "absent phone kept") }},
		{name: "update profile clears phone",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Phone: wrapperspb.String("+14155550123"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up2", Phone: wrapperspb.String("")},
			want:  []proto.Message{&pb.ProfileUpdated{CommandId: "up2", Phone: wrapperspb.String(""), At: at0}}},
		{name: "update profile unchanged",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String("Ally"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up2", Name: wrapperspb.String("Ally")}},
		{name: "update profile with nothing", given: verified, cmd: &pb.UpdateProfileRequest{CommandId: "up"}},
		{name: "update profile retried",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String("Ally"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("Ally")}},
		{name: "update profile name too long", given: verified,
			cmd:     &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String(strings.Repeat("é", MaxNameLength+1))},
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldTooLong},
		{name: "update profile name of 100 characters", given: verified,
			cmd:  &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String(strings.Repeat("é", MaxNameLength))},
			want: []proto.Message{&pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String(strings.Repeat("é", MaxNameLength)), At: at0}}},
		{name: "update profile name with a newline", given: verified,
			cmd:     &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("Al\nice")},
			errCode: emporium.EINVALID, field: "name", fieldCode: emporium.FieldInvalid},
		{name: "update profile bad phone", given: verified,
			cmd:     &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("Ally"), Phone: wrapperspb.String("555-0123")},
			errCode: emporium.EINVALID, field: "phone", fieldCode: emporium.FieldInvalid},

		// RequestEmailChange.
		{name: "request email change", given: verified,
			cmd: &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "Bob@Example.org", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))},
			want: []proto.Message{&pb.EmailChangeRequested{CommandId: "ec", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org",
				TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour)), At: at0}}},
		{name: "request email change to the same address", given: verified,
			cmd:     &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "alice@EXAMPLE.com", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "new_email", fieldCode: emporium.FieldUnchanged},
		{name: "request email change to a bad address", given: verified,
			cmd:     &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "bob@localhost", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "new_email", fieldCode: emporium.FieldInvalid},
		{name: "request email change retried", given: changing,
			cmd: &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "Bob@Example.org", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))}},
		{name: "request email change replaces the pending one", given: changing,
			cmd: &pb.RequestEmailChangeRequest{CommandId: "ec2", NewEmail: "carol@example.org", TokenHash: tok(6), ExpiresAt: ts(t0.Add(time.Hour))},
			want: []proto.Message{&pb.EmailChangeRequested{CommandId: "ec2", NewEmail: "carol@example.org", NewEmailKey: "carol@example.org",
				TokenHash: tok(6), ExpiresAt: ts(t0.Add(time.Hour)), At: at0}},
			check: func(t *testing.T, s *pb.State) {
				_, err := decideAsShell(s, &pb.VerifyEmailRequest{CommandId: "x", TokenHash: tok(3)}, t0)
				assert.True(t, emporium.IsCode(err, emporium.EINVALID), "the replaced token no longer works")
			}},
		{name: "request email change without expiry", given: verified,
			cmd:     &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "bob@example.org", TokenHash: tok(3)},
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: emporium.FieldRequired},

		// GrantRole.
		{name: "grant role", given: verified, cmd: &pb.GrantRoleRequest{CommandId: "g", Role: RoleVendor},
			want:  []proto.Message{&pb.RoleGranted{CommandId: "g", Role: RoleVendor, At: at0}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles) }},
		{name: "grant role held", given: verified, cmd: &pb.GrantRoleRequest{CommandId: "g", Role: RoleCustomer}},
		{name: "grant role retried", given: with(verified, &pb.RoleGranted{CommandId: "g", Role: RoleAdmin, At: at0}),
			cmd: &pb.GrantRoleRequest{CommandId: "g", Role: RoleAdmin}},
		{name: "grant unknown role", given: verified, cmd: &pb.GrantRoleRequest{CommandId: "g", Role: "root"},
			errCode: emporium.EINVALID, field: "role", fieldCode: emporium.FieldInvalid},

		// BecomeVendor.
		{name: "become vendor", given: verified, cmd: becomeVendor("bv", "  Acme Tools ", " Hammers.\n\tAnd nails. "),
			want: []proto.Message{
				&pb.StoreOpened{CommandId: "bv", StoreName: "Acme Tools", StoreNameKey: StoreNameKey("Acme Tools"), Description: "Hammers.\n\tAnd nails.", At: at0},
				&pb.RoleGranted{Role: RoleVendor, At: at0},
			}, check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles)
				assert.Equal(t, "Acme Tools", s.Store.StoreName)
				assert.Equal(t, StoreNameKey("Acme Tools"), s.StoreNameKey)
				assert.Equal(t, t0, s.Store.JoinedAt.AsTime())
				assert.Equal(t, t0, s.Store.UpdatedAt.AsTime())
				assert.Equal(t, t0, s.UpdatedAt.AsTime())
				assert.True(t, slices.Contains(s.RecentCommands, "bv"))
				acc := account(s, 3, t0)
				assert.True(t, proto.Equal(s.Store, acc.Store), "the account shows the store")
			}},
		{name: "become vendor with no description", given: verified, cmd: becomeVendor("bv", "Acme", ""),
			want: []proto.Message{
				&pb.StoreOpened{CommandId: "bv", StoreName: "Acme", StoreNameKey: StoreNameKey("Acme"), At: at0},
				&pb.RoleGranted{Role: RoleVendor, At: at0},
			}},
		{name: "become vendor holding the role", given: with(verified, &pb.RoleGranted{CommandId: "g", Role: RoleVendor, At: ts(created)}),
			cmd:  becomeVendor("bv", "Acme", "d"),
			want: []proto.Message{&pb.StoreOpened{CommandId: "bv", StoreName: "Acme", StoreNameKey: StoreNameKey("Acme"), Description: "d", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles, "the role is not granted twice")
			}},
		{name: "become vendor retried", given: vendor, cmd: becomeVendor("bv", "Other name", "other")},
		{name: "become vendor again, same values", given: vendor, cmd: becomeVendor("bv2", " Acme  Tools", "Tools.")},
		{name: "same values re-key a store named under the legacy rule",
			given: with(verified, &pb.StoreOpened{CommandId: "bv", StoreName: "Acme Tools", StoreNameKey: LegacyStoreNameKey("Acme Tools"), Description: "Tools.", At: ts(created)},
				&pb.RoleGranted{Role: RoleVendor, At: ts(created)}),
			cmd:  becomeVendor("rekey", "Acme Tools", "Tools."),
			want: []proto.Message{&pb.StoreUpdated{CommandId: "rekey", StoreName: "Acme Tools", StoreNameKey: StoreNameKey("Acme Tools"), Description: "Tools.", At: at0}}},
		{name: "rename store", given: vendor, cmd: becomeVendor("bv2", "Acme Hardware", "Tools."),
			want: []proto.Message{&pb.StoreUpdated{CommandId: "bv2", StoreName: "Acme Hardware", StoreNameKey: StoreNameKey("Acme Hardware"), Description: "Tools.", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, created, s.Store.JoinedAt.AsTime(), "joined_at is the first opening")
				assert.Equal(t, t0, s.Store.UpdatedAt.AsTime())
				assert.Equal(t, StoreNameKey("Acme Hardware"), s.StoreNameKey)
				assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles)
			}},
		{name: "restyle store name", given: vendor, cmd: becomeVendor("bv2", "ACME TOOLS", "Tools."),
			want: []proto.Message{&pb.StoreUpdated{CommandId: "bv2", StoreName: "ACME TOOLS", StoreNameKey: StoreNameKey("Acme Tools"), Description: "Tools.", At: at0}}},
		{name: "describe store", given: vendor, cmd: becomeVendor("bv2", "Acme  Tools", ""),
			want:  []proto.Message{&pb.StoreUpdated{CommandId: "bv2", StoreName: "Acme  Tools", StoreNameKey: StoreNameKey("Acme Tools"), At: at0}},
			check: func(t *testing.T, s *pb.State) { assert.Empty(t, s.Store.Description) }},
		{name: "store without the role", given: with(verified, &pb.StoreOpened{CommandId: "bv", StoreName: "Acme", StoreNameKey: StoreNameKey("Acme"), At: ts(created)}),
			cmd:  becomeVendor("bv2", "Acme", ""),
			want: []proto.Message{&pb.RoleGranted{CommandId: "bv2", Role: RoleVendor, At: at0}}},
		{name: "become vendor unverified", given: unverified, cmd: becomeVendor("bv", "Acme", ""), errCode: emporium.EUNVERIFIED},
		{name: "become vendor without command id", given: verified, cmd: becomeVendor("", "Acme", ""),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "store name missing", given: verified, cmd: becomeVendor("bv", "   ", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: emporium.FieldRequired},
		{name: "store name too short", given: verified, cmd: becomeVendor("bv", " A ", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: emporium.FieldTooShort},
		{name: "store name too long", given: verified, cmd: becomeVendor("bv", strings.Repeat("ü", MaxStoreName+1), ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: emporium.FieldTooLong},
		{name: "store name on two lines", given: verified, cmd: becomeVendor("bv", "Acme\nTools", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: emporium.FieldInvalid},
		{name: "description too long", given: verified, cmd: becomeVendor("bv", "Acme", strings.Repeat("ü", MaxStoreDescription+1)),
			errCode: emporium.EINVALID, field: "description", fieldCode: emporium.FieldTooLong},
		{name: "description with a control character", given: verified, cmd: becomeVendor("bv", "Acme", "bell\a"),
			errCode: emporium.EINVALID, field: "description", fieldCode: emporium.FieldInvalid},
		{name: "bad rename keeps the store", given: vendor, cmd: becomeVendor("bv2", "x", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: emporium.FieldTooShort},
	})
}

func becomeVendor(id, name, description string) *pb.BecomeVendorRequest {
	return &pb.BecomeVendorRequest{CommandId: id, StoreName: name, Description: description}
}

// TestBecomeVendorReportsEveryBadField: both fields are named at once.
func TestBecomeVendorReportsEveryBadField(t *testing.T) {
	s := given(registeredEv(), &pb.EmailVerified{CommandId: "v", At: ts(created)})
	_, err := decideAsShell(s, becomeVendor("bv", "", strings.Repeat("x", MaxStoreDescription+1)), t0)
	require.True(t, emporium.IsCode(err, emporium.EINVALID))
	assert.True(t, hasField(err, "store_name", emporium.FieldRequired))
	assert.True(t, hasField(err, "description", emporium.FieldTooLong))
}

// TestStoreNameRules: the limits count characters, not bytes, and the key
// ignores case, white space and invisible characters.
func TestStoreNameRules(t *testing.T) {
	for _, in := range []string{"ab", "Acme Tools", strings.Repeat("ü", MaxStoreName), " Zoë's Ateliér "} {
		_, fe := cleanStoreName(in)
		assert.Nil(t, fe, "%q", in)
	}
	for _, in := range []string{"", " ", "a", "ü", strings.Repeat("x", MaxStoreName+1), "a\tb", "a\x00b", "\xff\xfe"} {
		_, fe := cleanStoreName(in)
		assert.NotNil(t, fe, "%q", in)
	}
	for _, in := range []string{"", "line one\r\nline two\n\ttabbed", strings.Repeat("ü", MaxStoreDescription)} {
		_, fe := cleanDescription(in)
		assert.Nil(t, fe, "%q", in)
	}
	for _, in := range []string{"a\x00", "esc\x1b[31m", strings.Repeat("x", MaxStoreDescription+1), "\xff"} {
		_, fe := cleanDescription(in)
		assert.NotNil(t, fe, "%q", in)
	}
	same := []string{"Acme Tools", "acme tools", "ACME  TOOLS", " AcmeTools ", "Acme\u00a0Tools", "Ac\u200bme Tools", "Acme\u3000Tools"}
	for _, n := range same {
		assert.Equal(t, StoreNameKey("acmetools"), StoreNameKey(n), "%q", n)
		assert.Equal(t, "acmetools", LegacyStoreNameKey(n), "%q", n)
	}
	// Lookalikes of another script, fullwidth letters and digits for
	// letters are the same name; a different name is not.
	for _, n := range []string{"Acme T\u043e\u043els", "\uff21\uff43\uff4d\uff45 Tools", "\u0410cme Tools", "Acme T00ls"} {
		assert.Equal(t, StoreNameKey("Acme Tools"), StoreNameKey(n), "%q", n)
	}
	assert.NotEqual(t, StoreNameKey("Acme Tools"), StoreNameKey("Acme Toys"))
	assert.Equal(t, StoreNameKey("STRASSE"), StoreNameKey("strasse"))
	assert.Equal(t, StoreNameKey("\u212aelvin"), StoreNameKey("Kelvin"), "the Kelvin sign folds to k")
	assert.Equal(t, StoreNameKey("Zoë"), StoreNameKey("ZOË"))
	assert.NotEqual(t, StoreNameKey("Acme Tools"), StoreNameKey("Acme Tool"))
}
