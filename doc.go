// Package emporium holds what every layer of Emporium shares:
//
//   - the service contracts the gateway serves over HTTP and the actors
//     implement over their grains: Accounts (account.go), Catalog
//     (catalog.go), Carts and Wishlists (cart.go), with the types they take
//     and answer (Principal, Product, Cart, Wishlist, ...);
//   - the error vocabulary (error.go): the one error type, Error; the error
//     codes, listed once with their HTTP statuses (Codes); the field error
//     codes (Field...) and their helpers (Invalid); the retry hint of a
//     refusal (Error.RetryAfter); and how an error crosses the cluster
//     (GrainCall, Metadata).
//
// It imports nothing of the project, so any package may import it (DESIGN §3
// treats it like the standard library). A wiring mistake, such as a
// service built without a dependency it needs, panics at start-up; errors of
// this package are for what a caller can act on.
package emporium
