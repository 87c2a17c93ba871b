// Package botauth holds the parts of Web Bot Auth that need no HTTP stack
// and speak no protocol errors: Ed25519 public keys as JWKs with their
// RFC 7638 thumbprints, and the signature base of a key directory's
// possession proof. Storage (pkg/registry) and the protocol (pkg/deferred)
// both build on it; it imports neither, nor net/http.
package botauth
