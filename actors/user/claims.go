package user

// Collections of the uniqueness documents (DESIGN §5: unique email and
// username), kept through actors.Claims. The document emails/<EmailKey> or
// usernames/<UsernameKey> names the user id that owns the key.
const (
	EmailsCollection    = "emails"
	UsernamesCollection = "usernames"
)
