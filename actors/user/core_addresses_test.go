package user

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestDecideAddresses checks decide on AddAddress, UpdateAddress and RemoveAddress.
func TestDecideAddresses(t *testing.T) {
	runDecide(t, []decideCase{
		// AddAddress.
		{name: "add first address", given: verified, cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: fields("Home")},
			want: []proto.Message{added("a1", addr("a1", "Home", true, true, t0))}},
		{name: "add first address refusing the defaults", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.IsDefaultShipping, f.IsDefaultBilling = wrapperspb.Bool(false), wrapperspb.Bool(false)
				return f
			}()},
			want: []proto.Message{added("a1", addr("a1", "Home", true, true, t0))}},
		{name: "add second address", given: withAddrs[:len(withAddrs)-1],
			cmd:  &pb.AddAddressRequest{CommandId: "a2", AddressId: "a2", Address: fields("Work")},
			want: []proto.Message{added("a2", addr("a2", "Work", false, false, t0))}},
		{name: "add address as default shipping", given: withAddrs,
			cmd: &pb.AddAddressRequest{CommandId: "a3", AddressId: "a3", Address: func() *pb.AddressFields {
				f := fields("Cabin")
				f.IsDefaultShipping = wrapperspb.Bool(true)
				return f
			}()},
			want: []proto.Message{added("a3", addr("a3", "Cabin", true, false, t0))},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"a3"}, defaults(s, true))
				assert.Equal(t, []string{"a1"}, defaults(s, false))
			}},
		{name: "add address with every field", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: &pb.AddressFields{
				FullName: " Jean Dupont ", Line1: "5 rue de la Paix", Line2: "Bât. B", City: "Paris", Region: "Île-de-France",
				PostalCode: "75002", Country: "fr", Phone: "+33 1 23 45 67 89",
			}},
			want: []proto.Message{added("a1", &pb.Address{
				Id: "a1", FullName: "Jean Dupont", Line1: "5 rue de la Paix", Line2: "Bât. B", City: "Paris", Region: "Île-de-France",
				PostalCode: "75002", Country: "FR", Phone: "+33123456789", IsDefaultShipping: true, IsDefaultBilling: true,
				CreatedAt: at0, UpdatedAt: at0,
			})}},
		{name: "add address retried", given: withAddrs, cmd: &pb.AddAddressRequest{CommandId: "a2", AddressId: "a2", Address: fields("Work")}},
		{name: "add address with a used id", given: withAddrs,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a2", Address: fields("Work")},
			errCode: emporium.ECONFLICT, field: "address_id", fieldCode: emporium.FieldTaken},
		{name: "add address with a removed id", given: a1Removed,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a1", Address: fields("Home")},
			errCode: emporium.ECONFLICT, field: "address_id", fieldCode: emporium.FieldTaken},
		{name: "add address with a bad id", given: verified,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a/1", Address: fields("Home")},
			errCode: emporium.EINVALID, field: "address_id", fieldCode: emporium.FieldInvalid},
		{name: "add 21st address", given: full,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a9", Address: fields("Home")},
			errCode: emporium.EINVALID, field: "addresses", fieldCode: emporium.FieldTooMany},
		{name: "add address without fields", given: verified, cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1"},
			errCode: emporium.EINVALID, field: "address", fieldCode: emporium.FieldRequired},
		{name: "add address without full name", given: verified,
			cmd:     &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: fields("   ")},
			errCode: emporium.EINVALID, field: "full_name", fieldCode: emporium.FieldRequired},
		{name: "add address in an unassigned country", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.Country = "UK"
				return f
			}()},
			errCode: emporium.EINVALID, field: "country", fieldCode: emporium.FieldInvalid},
		{name: "add address with a bad postal code", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.PostalCode = "1"
				return f
			}()},
			errCode: emporium.EINVALID, field: "postal_code", fieldCode: emporium.FieldInvalid},
		{name: "add address reports every bad field", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: &pb.AddressFields{
				FullName: strings.Repeat("x", MaxNameLength+1), PostalCode: "12345#", Country: "XX", Phone: "+0123456789",
			}},
			errCode: emporium.EINVALID, field: "line1", fieldCode: emporium.FieldRequired},

		// UpdateAddress.
		{name: "update address", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.Line1 = "2 Main St"
				return f
			}()},
			want: []proto.Message{&pb.AddressUpdated{Address: func() *pb.Address {
				a := addr("a1", "Home", true, true, created)
				a.Line1, a.UpdatedAt = "2 Main St", at0
				return a
			}(), At: at0}}},
		{name: "update address unchanged", given: withAddrs, cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: fields("Home")}},
		{name: "update address to default billing", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a2", Address: func() *pb.AddressFields {
				f := fields("Work")
				f.IsDefaultBilling = wrapperspb.Bool(true)
				return f
			}()},
			want: []proto.Message{&pb.AddressUpdated{Address: func() *pb.Address {
				a := addr("a2", "Work", false, true, created)
				a.UpdatedAt = at0
				return a
			}(), At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"a1"}, defaults(s, true))
				assert.Equal(t, []string{"a2"}, defaults(s, false))
			}},
		{name: "update address clearing the default", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.IsDefaultShipping = wrapperspb.Bool(false)
				return f
			}()},
			errCode: emporium.EINVALID, field: "is_default_shipping", fieldCode: emporium.FieldDefaultRequired},
		{name: "update address clearing what is not set", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a2", Address: func() *pb.AddressFields {
				f := fields("Work")
				f.IsDefaultShipping, f.IsDefaultBilling = wrapperspb.Bool(false), wrapperspb.Bool(false)
				return f
			}()}},
		{name: "update unknown address", given: withAddrs, cmd: &pb.UpdateAddressRequest{AddressId: "a9", Address: fields("Home")},
			errCode: emporium.ENOTFOUND},
		{name: "update removed address", given: a1Removed, cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: fields("Home")},
			errCode: emporium.ENOTFOUND},
		{name: "update address with bad fields", given: withAddrs,
			cmd:     &pb.UpdateAddressRequest{AddressId: "a1", Address: &pb.AddressFields{FullName: "Home"}},
			errCode: emporium.EINVALID, field: "city", fieldCode: emporium.FieldRequired},

		// RemoveAddress.
		{name: "remove address", given: withAddrs, cmd: &pb.RemoveAddressRequest{AddressId: "a2"},
			want: []proto.Message{&pb.AddressRemoved{AddressId: "a2", At: at0}}},
		{name: "remove default address", given: withAddrs, cmd: &pb.RemoveAddressRequest{AddressId: "a1"},
			want: []proto.Message{&pb.AddressRemoved{AddressId: "a1", DefaultShippingTo: "a2", DefaultBillingTo: "a2", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"a2"}, defaults(s, true))
				assert.Equal(t, []string{"a2"}, defaults(s, false))
			}},
		{name: "remove last address", given: a1Removed, cmd: &pb.RemoveAddressRequest{AddressId: "a2"},
			want:  []proto.Message{&pb.AddressRemoved{AddressId: "a2", At: at0}},
			check: func(t *testing.T, s *pb.State) { assert.Empty(t, s.Addresses) }},
		{name: "remove address retried", given: a1Removed, cmd: &pb.RemoveAddressRequest{AddressId: "a1"}},
		{name: "remove unknown address", given: withAddrs, cmd: &pb.RemoveAddressRequest{AddressId: "a9"},
			errCode: emporium.ENOTFOUND},
		{name: "remove address without id", given: withAddrs, cmd: &pb.RemoveAddressRequest{},
			errCode: emporium.ENOTFOUND},
	})
}

// defaults returns the ids of the default shipping (or billing) addresses.
func defaults(s *pb.State, shipping bool) []string {
	var ids []string
	for _, a := range s.Addresses {
		if shipping && a.IsDefaultShipping || !shipping && a.IsDefaultBilling {
			ids = append(ids, a.Id)
		}
	}
	return ids
}

func TestAddressReportsEveryBadField(t *testing.T) {
	s := given(registeredEv())
	_, err := decideAsShell(s, &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: &pb.AddressFields{
		FullName: strings.Repeat("x", MaxNameLength+1), PostalCode: "12345#", Country: "XX", Phone: "+0123456789",
	}}, t0)
	require.True(t, emporium.IsCode(err, emporium.EINVALID))
	got := map[string]string{}
	for _, f := range emporium.ErrorFields(err) {
		got[f.Field] = f.Code
	}
	assert.Equal(t, map[string]string{
		"full_name": emporium.FieldTooLong, "line1": emporium.FieldRequired, "city": emporium.FieldRequired,
		"postal_code": emporium.FieldInvalid, "country": emporium.FieldInvalid, "phone": emporium.FieldInvalid,
	}, got)
}

func TestAddressDefaultsFollowTheOldest(t *testing.T) {
	s := given(registeredEv())
	run := func(cmd proto.Message) {
		t.Helper()
		events, err := decideAsShell(s, cmd, t0)
		require.NoError(t, err)
		for _, ev := range events {
			Spec.Fold(s, ev)
		}
	}
	shipping := func(f *pb.AddressFields) *pb.AddressFields {
		f.IsDefaultShipping = wrapperspb.Bool(true)
		return f
	}
	run(&pb.AddAddressRequest{CommandId: "1", AddressId: "a", Address: fields("A")})
	run(&pb.AddAddressRequest{CommandId: "2", AddressId: "b", Address: fields("B")})
	run(&pb.AddAddressRequest{CommandId: "3", AddressId: "c", Address: shipping(fields("C"))})
	assert.Equal(t, []string{"c"}, defaults(s, true))
	assert.Equal(t, []string{"a"}, defaults(s, false))
	run(&pb.RemoveAddressRequest{AddressId: "c"})
	assert.Equal(t, []string{"a"}, defaults(s, true), "the oldest remaining takes the flag")
	run(&pb.RemoveAddressRequest{AddressId: "a"})
	assert.Equal(t, []string{"b"}, defaults(s, true))
	assert.Equal(t, []string{"b"}, defaults(s, false))
	run(&pb.RemoveAddressRequest{AddressId: "a"}) // a retry
	run(&pb.RemoveAddressRequest{AddressId: "b"})
	assert.Empty(t, s.Addresses)
	run(&pb.AddAddressRequest{CommandId: "4", AddressId: "d", Address: fields("D")})
	assert.Equal(t, []string{"d"}, defaults(s, true), "a first address again is both defaults")
	assert.Equal(t, []string{"d"}, defaults(s, false))
}
