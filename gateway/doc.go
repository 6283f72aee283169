// Package gateway is Baton's client-facing reverse proxy (S2): it spreads
// a service's client requests over the members' service addresses, follows
// the cluster through the agents' API (members, the failover ring and the
// active transaction, with long-polled reads) and keeps clients served
// through a rolling upgrade. When a node refuses a connection it forwards
// the request to that node's successor in the ring; a request that may have
// reached a node is sent again only when its method is idempotent, so a
// non-idempotent body is never sent twice. In its active variant it
// registers with the cluster and reports each state index it has acted on,
// so a step's drain waits until every gateway has taken the node out of
// rotation.
//
// The gateway is a black-box client like the CLI: it imports rpc/api and
// never fsm/, coordinator/, node/ or rpc/ itself (a test enforces it). It
// keeps no state of its own worth keeping: it can be restarted at any time,
// and several may run at once.
package gateway
