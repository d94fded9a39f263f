package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
)

// fakeAccounts is the account service behind the gateway in these tests:
// in memory, it records every call and fails a method on request.

// Two users with one access token each.
var (
	alice = emporium.Principal{UserID: "u-alice", SessionID: "s-alice", Roles: []string{emporium.RoleCustomer}}
	bob   = emporium.Principal{UserID: "u-bob", SessionID: "s-bob", Roles: []string{emporium.RoleCustomer, emporium.RoleVendor}}
)

const (
	aliceToken = "alice.access.token"
	bobToken   = "bob.access.token"
)

// call is one call the fake received.
type call struct {
	method    string
	principal emporium.Principal
	args      []any
}

// fakeAccounts is an in-memory emporium.Accounts that records its calls.
// Errors set in fail are answered by the method of that name.
type fakeAccounts struct {
	mu        sync.Mutex
	calls     []call
	fail      map[string]error
	login     emporium.Login
	jwks      []byte
	addresses map[string][]emporium.Address // by user id
	nextID    int
	// tokens are access tokens beyond alice's and bob's, set by a test
	// before it serves requests.
	tokens map[string]emporium.Principal
}

func newFake() *fakeAccounts {
	return &fakeAccounts{
		fail:      map[string]error{},
		login:     emporium.Login{Tokens: &emporium.Tokens{AccessToken: "new.access", RefreshToken: "new-refresh", ExpiresIn: 15 * time.Minute}},
		jwks:      []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA","use":"sig","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
		addresses: map[string][]emporium.Address{},
	}
}

func (f *fakeAccounts) record(method string, p emporium.Principal, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method, p, args})
	return f.fail[method]
}

func (f *fakeAccounts) setFail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

// called returns the calls of method, or every call but Authenticate when
// method is "".
func (f *fakeAccounts) called(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.method == method || method == "" && c.method != "Authenticate" {
			out = append(out, c)
		}
	}
	return out
}

// last returns the one call of method, failing the test if there is not
// exactly one.
func (f *fakeAccounts) last(t *testing.T, method string) call {
	t.Helper()
	calls := f.called(method)
	require.Len(t, calls, 1, "calls of %s", method)
	return calls[0]
}

var none emporium.Principal

func (f *fakeAccounts) Signup(ctx context.Context, in emporium.Signup) error {
	return f.record("Signup", none, in)
}

func (f *fakeAccounts) VerifyEmail(ctx context.Context, token string) error {
	return f.record("VerifyEmail", none, token)
}

func (f *fakeAccounts) ResendVerification(ctx context.Context, email string, c emporium.Client) error {
	return f.record("ResendVerification", none, email, c)
}

func (f *fakeAccounts) Login(ctx context.Context, email, password string, c emporium.Client) (emporium.Login, error) {
	if err := f.record("Login", none, email, password, c); err != nil {
		return emporium.Login{}, err
	}
	return f.login, nil
}

func (f *fakeAccounts) LoginMFA(ctx context.Context, mfaToken, code string, c emporium.Client) (emporium.Tokens, error) {
	if err := f.record("LoginMFA", none, mfaToken, code, c); err != nil {
		return emporium.Tokens{}, err
	}
	return emporium.Tokens{AccessToken: "mfa.access", RefreshToken: "mfa-refresh", ExpiresIn: 15 * time.Minute}, nil
}

func (f *fakeAccounts) Refresh(ctx context.Context, refreshToken string, c emporium.Client) (emporium.Tokens, error) {
	if err := f.record("Refresh", none, refreshToken, c); err != nil {
		return emporium.Tokens{}, err
	}
	return emporium.Tokens{AccessToken: "rotated.access", RefreshToken: "rotated-refresh", ExpiresIn: 900500 * time.Millisecond}, nil
}

func (f *fakeAccounts) Logout(ctx context.Context, refreshToken string) error {
	return f.record("Logout", none, refreshToken)
}

func (f *fakeAccounts) ForgotPassword(ctx context.Context, email string, c emporium.Client) error {
	return f.record("ForgotPassword", none, email, c)
}

func (f *fakeAccounts) ResetPassword(ctx context.Context, token, password string, c emporium.Client) error {
	return f.record("ResetPassword", none, token, password, c)
}

func (f *fakeAccounts) UnlockMFA(ctx context.Context, token string) error {
	return f.record("UnlockMFA", none, token)
}

func (f *fakeAccounts) Authenticate(ctx context.Context, accessToken string) (emporium.Principal, error) {
	if err := f.record("Authenticate", none, accessToken); err != nil {
		return emporium.Principal{}, err
	}
	switch accessToken {
	case aliceToken:
		return alice, nil
	case bobToken:
		return bob, nil
	}
	if p, ok := f.tokens[accessToken]; ok {
		return p, nil
	}
	return emporium.Principal{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "The access token is not valid.")
}

func (f *fakeAccounts) JWKS() []byte { return f.jwks }

func (f *fakeAccounts) account(p emporium.Principal) emporium.Account {
	return emporium.Account{
		ID: p.UserID, Username: strings.TrimPrefix(p.UserID, "u-"), Email: strings.TrimPrefix(p.UserID, "u-") + "@example.com",
		EmailVerified: true, Roles: p.Roles, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
	}
}

func (f *fakeAccounts) Account(ctx context.Context, p emporium.Principal) (emporium.Account, error) {
	if err := f.record("Account", p); err != nil {
		return emporium.Account{}, err
	}
	return f.account(p), nil
}

func (f *fakeAccounts) UpdateAccount(ctx context.Context, p emporium.Principal, in emporium.AccountUpdate) (emporium.Account, error) {
	if err := f.record("UpdateAccount", p, in); err != nil {
		return emporium.Account{}, err
	}
	a := f.account(p)
	if in.Name != nil {
		a.Name = *in.Name
	}
	if in.Phone != nil {
		a.Phone = *in.Phone
	}
	if in.Email != nil {
		a.PendingEmail = *in.Email
	}
	return a, nil
}

func (f *fakeAccounts) Sessions(ctx context.Context, p emporium.Principal) ([]emporium.Session, error) {
	if err := f.record("Sessions", p); err != nil {
		return nil, err
	}
	t := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return []emporium.Session{
		{ID: p.SessionID, Device: "Firefox", IP: "192.0.2.1", CreatedAt: t, LastUsedAt: t.Add(time.Hour), ExpiresAt: t.Add(30 * 24 * time.Hour), Current: true},
		{ID: p.SessionID + "-old", Device: "curl/8", IP: "2001:db8::1", CreatedAt: t.Add(-time.Hour), LastUsedAt: t.Add(-time.Hour), ExpiresAt: t.Add(29 * 24 * time.Hour)},
	}, nil
}

func (f *fakeAccounts) RevokeSession(ctx context.Context, p emporium.Principal, sessionID string) error {
	if err := f.record("RevokeSession", p, sessionID); err != nil {
		return err
	}
	if !strings.HasPrefix(sessionID, p.SessionID) {
		return emporium.Errorf(emporium.ENOTFOUND, "No such session.")
	}
	return nil
}

func (f *fakeAccounts) BeginTOTP(ctx context.Context, p emporium.Principal, password string) (emporium.TOTPEnrollment, error) {
	if err := f.record("BeginTOTP", p, password); err != nil {
		return emporium.TOTPEnrollment{}, err
	}
	return emporium.TOTPEnrollment{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", OTPAuthURL: "otpauth://totp/Emporium:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Emporium"}, nil
}

func (f *fakeAccounts) ConfirmTOTP(ctx context.Context, p emporium.Principal, code string) ([]string, error) {
	if err := f.record("ConfirmTOTP", p, code); err != nil {
		return nil, err
	}
	return []string{"aaaa-bbbb", "cccc-dddd"}, nil
}

func (f *fakeAccounts) DisableTOTP(ctx context.Context, p emporium.Principal, password, code string) error {
	return f.record("DisableTOTP", p, password, code)
}

func (f *fakeAccounts) Addresses(ctx context.Context, p emporium.Principal) ([]emporium.Address, error) {
	if err := f.record("Addresses", p); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addresses[p.UserID]), nil
}

func (f *fakeAccounts) find(p emporium.Principal, id string) (int, error) {
	for i, a := range f.addresses[p.UserID] {
		if a.ID == id {
			return i, nil
		}
	}
	return 0, emporium.Errorf(emporium.ENOTFOUND, "No such address.")
}

func (f *fakeAccounts) Address(ctx context.Context, p emporium.Principal, id string) (emporium.Address, error) {
	if err := f.record("Address", p, id); err != nil {
		return emporium.Address{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(p, id)
	if err != nil {
		return emporium.Address{}, err
	}
	return f.addresses[p.UserID][i], nil
}

func (f *fakeAccounts) AddAddress(ctx context.Context, p emporium.Principal, a emporium.Address, key string) (emporium.Address, error) {
	if err := f.record("AddAddress", p, a, key); err != nil {
		return emporium.Address{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	a.ID = fmt.Sprintf("addr-%d", f.nextID)
	f.addresses[p.UserID] = append(f.addresses[p.UserID], a)
	return a, nil
}

func (f *fakeAccounts) ReplaceAddress(ctx context.Context, p emporium.Principal, id string, a emporium.Address) (emporium.Address, error) {
	if err := f.record("ReplaceAddress", p, id, a); err != nil {
		return emporium.Address{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(p, id)
	if err != nil {
		return emporium.Address{}, err
	}
	a.ID = id
	f.addresses[p.UserID][i] = a
	return a, nil
}

func (f *fakeAccounts) RemoveAddress(ctx context.Context, p emporium.Principal, id string) error {
	if err := f.record("RemoveAddress", p, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(p, id)
	if err != nil {
		return err
	}
	f.addresses[p.UserID] = slices.Delete(f.addresses[p.UserID], i, i+1)
	return nil
}

var _ emporium.Accounts = (*fakeAccounts)(nil)
