// Package tlsnet is an agent's TLS: its certificate, key and CA files
// checked at start and reloaded on SIGHUP, the tls.Configs of its API, of
// its calls to other agents and of its Raft transport, and the Raft stream
// layer over mutual TLS.
//
// A node's certificate names its member id in the CommonName, carries the
// DNS names and IP addresses its API and Raft are reached at, and is good
// for both server and client authentication: an agent presents the same
// certificate when it serves and when it calls another agent. Raft accepts
// only peers with a node certificate the CA signed, and, through
// StreamLayer.SetAdmission, only those whose name the agent admits (node/
// admits the servers of its Raft configuration; docs/tls.md). The package
// never logs or returns key material.
package tlsnet
