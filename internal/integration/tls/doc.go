// Package tls holds the end-to-end tests of Baton with TLS: real agents
// whose Raft speaks mutual TLS and whose API speaks HTTPS, with
// certificates a throwaway CA issues in Go (jepsen/procs.CA). It has no
// non-test code.
package tls
