package ratelimit

import (
	"context"
	"time"
)

// The limits DESIGN §9 starts from. Each window pairs with the purpose of
// the same name, so that every service keys a counter the same way.
var (
	// FailedLoginsPerAccountIP allows 10 failed logins for one account from
	// one address in 15 minutes: the 11th in a row is refused. It stops
	// password guessing from one place without locking the owner out from
	// everywhere else.
	FailedLoginsPerAccountIP = Window{Max: 10, Period: 15 * time.Minute}
	// FailedLoginsPerAccount allows 100 failed logins for one account an
	// hour from all addresses together, which stops guessing spread over
	// many addresses.
	FailedLoginsPerAccount = Window{Max: 100, Period: time.Hour}
	// FailedLoginsPerIP allows 100 failed logins from one address (an
	// IPv6 /64, see IPBucket) an hour, whatever accounts they were for, so
	// one place cannot guess one password against many accounts.
	FailedLoginsPerIP = Window{Max: 100, Period: time.Hour}
	// SignupsPerIP allows 50 signups from one address a minute: enough for
	// a campus or an office behind one NAT, not for a script creating
	// accounts in bulk.
	SignupsPerIP = Window{Max: 50, Period: time.Minute}
	// ResetMailsPerAccount allows 5 password-reset mails to one account an
	// hour, so nobody can flood an inbox through the forgot-password form.
	ResetMailsPerAccount = Window{Max: 5, Period: time.Hour}
	// ResetMailsPerIP allows 20 password-reset requests from one address
	// (an IPv6 /64) an hour, whatever addresses they name, so one place
	// cannot flood many inboxes through the form either.
	ResetMailsPerIP = Window{Max: 20, Period: time.Hour}
	// VerifyMailsPerAccount allows 5 verification mails (resent links) to
	// one account an hour, for the same reason.
	VerifyMailsPerAccount = Window{Max: 5, Period: time.Hour}
	// TOTPTries allows 5 TOTP codes for one account in 30 seconds, one step
	// of RFC 6238. With ±1 step accepted each guess has a 3 in a million
	// chance, so a guesser who has the password is held to about 4% a day.
	TOTPTries = Window{Max: 5, Period: 30 * time.Second}
	// MFAFailures locks MFA login for one account after 10 wrong TOTP
	// codes without a right one between (a right code, a recovery code or
	// the mailed unlock link clears it). Only someone who has the password
	// gets that far, so the lock holds for a week, not for a TOTP step: a
	// guesser gets one try more when the oldest failure leaves the window,
	// and the 10th failure in the window locks again and mails the owner.
	MFAFailures = Window{Max: 10, Period: 7 * 24 * time.Hour}

	// PerClient is the default API limit of one client (an account, or an
	// address for anonymous calls): 300 requests a minute on average, 100 at
	// once. A person browsing makes a handful of calls per page, and a page
	// load or a checkout fans out into a few dozen at once, so neither comes
	// near it; a scraper or a runaway script is held to 5 requests a second.
	// GCRA gives a client who used up the burst a request back every 200 ms
	// (Period/Rate) instead of making it wait for the minute to end, and a
	// burst of a third of the minute bounds the spike one client can cause.
	PerClient = Limit{Rate: 300, Burst: 100, Period: time.Minute}
	// WebhooksPerIP is the limit of payment providers' notifications (POST
	// /v1/webhooks/{provider}) from one address: 1200 a minute on average,
	// 300 at once. A provider sends from a few addresses, in bursts when
	// many payments change together, so it is above PerClient; a refused
	// notification is not lost, as providers retry any answer but 2xx. The
	// route needs no credentials, so the limit bounds the signatures an
	// anonymous sender can make a node check.
	WebhooksPerIP = Limit{Rate: 1200, Burst: 300, Period: time.Minute}
)

// Purposes name what a counter counts, the first part of its Key. Counters
// of different purposes never share a key even for the same identifiers.
const (
	// PurposeFailedLoginsPerAccountIP keys FailedLoginsPerAccountIP by the
	// account's email and the client address.
	PurposeFailedLoginsPerAccountIP = "login-failures:account-ip"
	// PurposeFailedLoginsPerAccount keys FailedLoginsPerAccount by the
	// account's email.
	PurposeFailedLoginsPerAccount = "login-failures:account"
	// PurposeFailedLoginsPerIP keys FailedLoginsPerIP by the client
	// address's bucket (IPBucket).
	PurposeFailedLoginsPerIP = "login-failures:ip"
	// PurposeSignupsPerIP keys SignupsPerIP by the client address.
	PurposeSignupsPerIP = "signups:ip"
	// PurposeResetMailsPerAccount keys ResetMailsPerAccount by the email the
	// mail is asked for, known or not, so the answer does not tell them apart.
	PurposeResetMailsPerAccount = "reset-mails:account"
	// PurposeResetMailsPerIP keys ResetMailsPerIP by the client address's
	// bucket (IPBucket).
	PurposeResetMailsPerIP = "reset-mails:ip"
	// PurposeVerifyMailsPerAccount keys VerifyMailsPerAccount by the email
	// the mail is asked for.
	PurposeVerifyMailsPerAccount = "verify-mails:account"
	// PurposeTOTPTries keys TOTPTries by the user id, so that fresh MFA
	// challenges do not bring fresh tries.
	PurposeTOTPTries = "totp-tries:account"
	// PurposeMFAFailures keys MFAFailures by the user id.
	PurposeMFAFailures = "mfa-failures:account"
	// PurposeAPI keys PerClient by the authenticated user id, or by the
	// client address for anonymous calls, and WebhooksPerIP by "webhooks"
	// and the client address's bucket (IPBucket).
	PurposeAPI = "api"
)

// Counter is a security counter: a sliding Window kept under the keys of one
// purpose, Key(Purpose, ids...) for the identifiers of what it counts.
type Counter struct {
	Purpose string
	Window
}

// Key returns the key of the counter of ids.
func (c Counter) Key(ids ...string) string { return Key(c.Purpose, ids...) }

// The security counters of DESIGN §9, each window with its purpose.
var (
	FailedLoginsPerAccountIPCounter = Counter{PurposeFailedLoginsPerAccountIP, FailedLoginsPerAccountIP}
	FailedLoginsPerAccountCounter   = Counter{PurposeFailedLoginsPerAccount, FailedLoginsPerAccount}
	FailedLoginsPerIPCounter        = Counter{PurposeFailedLoginsPerIP, FailedLoginsPerIP}
	SignupsPerIPCounter             = Counter{PurposeSignupsPerIP, SignupsPerIP}
	ResetMailsPerAccountCounter     = Counter{PurposeResetMailsPerAccount, ResetMailsPerAccount}
	ResetMailsPerIPCounter          = Counter{PurposeResetMailsPerIP, ResetMailsPerIP}
	VerifyMailsPerAccountCounter    = Counter{PurposeVerifyMailsPerAccount, VerifyMailsPerAccount}
	TOTPTriesCounter                = Counter{PurposeTOTPTries, TOTPTries}
	MFAFailuresCounter              = Counter{PurposeMFAFailures, MFAFailures}
)

// Counters keeps security counters by purpose and identifiers: Hit, Count
// and Reset of the Limiter's windows, keyed by Counter.Key. The account
// service takes it (actors/user.Limiter) so that it names no key itself.
type Counters struct{ Limiter *Limiter }

// Counters returns the limiter's windows keyed by Counter.
func (l *Limiter) Counters() Counters { return Counters{l} }

// Hit is Limiter.Hit on the counter of ids.
func (c Counters) Hit(ctx context.Context, counter Counter, ids ...string) (Decision, error) {
	return c.Limiter.Hit(ctx, counter.Key(ids...), counter.Window)
}

// Count is Limiter.Count on the counter of ids.
func (c Counters) Count(ctx context.Context, counter Counter, ids ...string) (Decision, error) {
	return c.Limiter.Count(ctx, counter.Key(ids...), counter.Window)
}

// Reset is Limiter.Reset on the counter of ids.
func (c Counters) Reset(ctx context.Context, counter Counter, ids ...string) error {
	return c.Limiter.Reset(ctx, counter.Key(ids...))
}
