// Package storecheck verifies a bbolt file (raft.db, journal.db) before
// the agent opens it for good. bbolt trusts its file: a truncated or
// garbled one can make it panic deep inside a read, long after Open, with
// a stack trace that names neither the file nor a way out. Checking every
// page once at start turns that into an error the agent can report. It
// must never write to the file.
package storecheck
