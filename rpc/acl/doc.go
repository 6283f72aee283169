// Package acl is the agent's access-control policy: the scopes a caller may
// hold (read, operator, agent), the named tokens of an --acl-file that grant
// them, and what an anonymous caller may do.
//
// It decides nothing about routes: which scope a route needs is the route
// table of package rpc (rpc/scopes.go), and who the caller is (a token, a
// node's signature, a verified certificate) is resolved there too. This
// package only loads and validates the file and looks a bearer secret up
// in it, comparing secrets in constant time. It must never log or echo a
// secret: its errors name the entry by its name or position only.
package acl
