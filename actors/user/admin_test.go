package user_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func TestCreateUserMakesAVerifiedAdmin(t *testing.T) {
	ctx := t.Context()
	username, email := newUser("admin")
	acc, err := svc.CreateUser(ctx, username, email, password, []string{emporium.RoleAdmin})
	require.NoError(t, err)
	assert.True(t, acc.EmailVerified)
	assert.ElementsMatch(t, []string{emporium.RoleCustomer, emporium.RoleAdmin}, acc.Roles)

	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err, "no verification mail is needed")
	require.NotNil(t, login.Tokens)
	p, err := svc.Authenticate(ctx, login.Tokens.AccessToken)
	require.NoError(t, err)
	assert.True(t, p.HasRole(emporium.RoleAdmin), "the access token carries the role")

	// Operators are told what is taken; nothing is created.
	_, err = svc.CreateUser(ctx, username+"x", email, password, nil)
	assert.Equal(t, emporium.EINVALID, code(t, err))
	assert.Equal(t, "email", emporium.ErrorFields(err)[0].Field)
	_, err = svc.CreateUser(ctx, "someone_else", "else@example.com", password, []string{"root"})
	assert.Equal(t, emporium.EINVALID, code(t, err), "unknown role")
}
