// Package artifacts runs real baton agents over loopback to check the
// artifacts held by the cluster (docs/fleets.md): a push held by a quorum
// of the voters, the list, a push that too few servers can hold, a damaged
// copy refused by digest and fetched from another server, and an upgrade
// whose nodes each fetch and verify the artifact before their install hook
// sees it.
package artifacts
