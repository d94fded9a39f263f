package user

// Collections of the uniqueness documents (DESIGN §5: unique email and
// username), kept through actors.Claims. The document emails/<EmailKey> or
// usernames/<UsernameKey> names the user id that owns the key.
const (
	EmailsCollection    = "emails"
	UsernamesCollection = "usernames"
	// StoreNamesCollection holds store_names/<StoreNameKey>, naming the
	// vendor (user id) whose store has that name. The UserGrain claims it
	// itself, before it persists the name.
	StoreNamesCollection = "store_names"
)
