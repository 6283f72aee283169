// Package rpc is the server side of Baton's HTTP/JSON API: the server every
// agent runs, the forwarding of writes to the leader, access control (the
// scope each route needs, in scopes.go; who the caller is and which node it
// proves to be, in identity.go; the audit line of every write, in
// audit.go), and the two edges between the state machine and the wire. The
// types, the error codes and the typed Go client are in rpc/api, which
// clients import instead of this package.
//
// convert.go is the one place where the state machine's records (package
// fsm) become the API's types and back, so the JSON clients read does not
// follow the state machine's shape; errors.go is the one place where an
// error gets its code and, through it, its HTTP status.
//
// The server never changes state itself: reads come from the local state
// machine, writes go to the Backend, which commits them through Raft on the
// leader. A request with bad input is refused before anything is proposed.
// An error answer says whether a write may have been applied: a forwarded
// write carries the leader's answer, code and all, and a forward that got
// no answer says "no leader" only when nothing was sent.
package rpc
