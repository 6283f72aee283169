// Package acl holds the end-to-end tests of access control and node
// identity: real baton processes on loopback with an ACL file, scoped
// tokens through the CLI, token files, and forged agent-to-agent calls
// (a completion notice and a step delivery with another node's identity)
// refused with nothing run and nothing changed. It has no non-test code.
package acl
