// Package nodeauth is a node's identity on the wire without TLS: every
// agent holds an Ed25519 key of its own (generated at its first start, kept
// 0600 in its data dir), the catalogue records only the public key (the
// member.key command), and each request one agent sends another carries a
// signature over the request (method, path and query, body digest, the
// member id and the time) in the X-Baton-Node header.
//
// A signature proves the member id to any agent that holds the catalogue,
// without the secret ever leaving the node: a peer that forwards a signed
// request to the leader cannot use it to sign another. What a signature does
// not stop is the replay of the very same request within MaxSkew; every
// route a node signs is idempotent (a step attempt, a notice, a join), and
// TLS (docs/tls.md) closes that too.
//
// The package is pure: keys, signing and verifying, with the time passed
// in. It must never read a key from anywhere but the file it is given.
package nodeauth
