package user_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func addr(name string) emporium.Address {
	return emporium.Address{FullName: name, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "us"}
}

func TestAddresses(t *testing.T) {
	ctx := t.Context()
	_, _, p := verifiedUser(t, "addr")

	first, err := svc.AddAddress(ctx, p, addr("First"), "")
	require.NoError(t, err)
	assert.True(t, first.IsDefaultShipping)
	assert.True(t, first.IsDefaultBilling)
	assert.Equal(t, "US", first.Country)

	second := addr("Second")
	second.IsDefaultShipping = true
	got, err := svc.AddAddress(ctx, p, second, "key-2")
	require.NoError(t, err)
	again, err := svc.AddAddress(ctx, p, second, "key-2")
	require.NoError(t, err)
	assert.Equal(t, got.ID, again.ID, "a retry with the same key answers the same address")
	list, err := svc.Addresses(ctx, p)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.False(t, list[0].IsDefaultShipping)
	assert.True(t, list[0].IsDefaultBilling)
	assert.True(t, list[1].IsDefaultShipping)

	upd := addr("Second Renamed")
	upd.IsDefaultBilling = true
	got, err = svc.ReplaceAddress(ctx, p, got.ID, upd)
	require.NoError(t, err)
	assert.Equal(t, "Second Renamed", got.FullName)
	assert.True(t, got.IsDefaultShipping, "false keeps the flag")
	assert.True(t, got.IsDefaultBilling)

	require.NoError(t, svc.RemoveAddress(ctx, p, got.ID))
	one, err := svc.Address(ctx, p, first.ID)
	require.NoError(t, err)
	assert.True(t, one.IsDefaultShipping && one.IsDefaultBilling, "the defaults pass to the remaining address")
	_, err = svc.Address(ctx, p, got.ID)
	assert.Equal(t, emporium.ENOTFOUND, code(t, err))

	bad := addr("")
	bad.Country = "XX"
	_, err = svc.AddAddress(ctx, p, bad, "")
	assert.Equal(t, emporium.EINVALID, code(t, err))
	assert.Len(t, emporium.ErrorFields(err), 2)

	for i := 2; i <= 20; i++ {
		_, err := svc.AddAddress(ctx, p, addr(fmt.Sprint("Address ", i)), "")
		require.NoError(t, err, "address %d", i)
	}
	_, err = svc.AddAddress(ctx, p, addr("Twenty-first"), "")
	assert.Equal(t, emporium.EINVALID, code(t, err), "at most 20")
}
