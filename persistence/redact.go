package persistence

import (
	"net/url"
	"strings"
)

// redacted replaces every secret that RedactURI removes.
const redacted = "xxxxx"

// secretOptions are the connection-string options whose values are secrets:
// the password of a TLS key file and the AWS session token that may ride in
// authMechanismProperties. Option names are case-insensitive. Any option
// whose name mentions a password, secret or token is masked too, since
// RedactURI also serves other URLs (REDIS_URL, SMTP_URL).
var secretOptions = map[string]bool{
	"tlscertificatekeyfilepassword": true,
	"sslpemkeypassword":             true,
	"authmechanismproperties":       true,
}

// isSecretOption reports whether the option named key holds a secret.
func isSecretOption(key string) bool {
	key = strings.ToLower(key)
	return secretOptions[key] || strings.Contains(key, "pass") ||
		strings.Contains(key, "secret") || strings.Contains(key, "token")
}

// RedactURI returns uri with its password and secret options replaced by
// "xxxxx", so that it can be logged or shown in an error. The user name and
// the hosts are kept because they are what an operator needs to see. The
// string is not parsed strictly: MongoDB connection strings may list several
// hosts and carry characters net/url rejects, and a malformed URI must still
// come out without its secrets.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		// Not a URI we understand; it may still hold a secret anywhere.
		if uri == "" {
			return ""
		}
		return redacted
	}
	// A password may contain '/', '?' and '@' when the user forgot to escape
	// them, so the user info ends at the last '@', not at the first '/'.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
			userinfo = user + ":" + redacted
		}
		rest = userinfo + "@" + rest[at+1:]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return scheme + "://" + rest
	}
	options := strings.Split(query, "&")
	for i, option := range options {
		name, _, _ := strings.Cut(option, "=")
		if key, err := url.QueryUnescape(name); err == nil && isSecretOption(key) {
			options[i] = name + "=" + redacted
		}
	}
	return scheme + "://" + path + "?" + strings.Join(options, "&")
}

// URIPassword returns the password in uri, or "" when it has none. It is used
// to scrub driver error messages, which may echo parts of the URI.
func URIPassword(uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return ""
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, password, _ := strings.Cut(rest[:at], ":")
	return password
}

// scrubbedError hides a secret that the wrapped error's message may contain.
// Unwrap keeps the chain intact for errors.Is and errors.As.
type scrubbedError struct {
	err    error
	secret string
}

// Scrub returns err with every occurrence of secret (as written, escaped or
// unescaped) removed from its message.
func Scrub(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &scrubbedError{err: err, secret: secret}
}

func (e *scrubbedError) Error() string {
	msg := e.err.Error()
	variants := []string{e.secret, url.QueryEscape(e.secret), url.PathEscape(e.secret)}
	if plain, err := url.PathUnescape(e.secret); err == nil {
		variants = append(variants, plain)
	}
	for _, s := range variants {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return msg
}

func (e *scrubbedError) Unwrap() error { return e.err }
