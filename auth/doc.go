// Package auth holds the cryptography of Emporium's identity layer (DESIGN
// §9): argon2id password hashes and the password policy, EdDSA access tokens
// with their key set and JWKS, opaque one-time tokens stored as hashes, TOTP
// second factors with replay protection, and single-use recovery codes.
//
// The package keeps no state of its own: the UserGrain, the SessionGrain and
// the gateway store what it returns (hashes, the last used TOTP step) and pass
// it back. Every failure is an *emporium.Error whose Op names the function
// that failed; no error message ever carries a password, a token, a secret or
// key material, so errors may be logged as they are.
package auth
