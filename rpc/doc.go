// Package rpc is Baton's HTTP/JSON API: the server every agent runs, the
// typed Go client the CLI and the agents use, the forwarding of writes to the
// leader, the bearer-token check and the one place where errors map to HTTP
// statuses.
//
// The server never changes state itself: reads come from the local state
// machine, writes go to the Backend, which commits them through Raft on the
// leader. A request with bad input is refused before anything is proposed.
package rpc
