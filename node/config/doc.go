// Package config loads the agent's local configuration file: the hooks that
// upgrade this node (drain, install, restart, health, version, rollback),
// the service-role hooks (role, promote, demote, follow, lag), their timeout, the node's labels and its service address (service_addr).
//
// The file is JSON (.json) or HCL (.hcl); both are decoded with hclsimple so
// they accept exactly the same keys, and an unknown key is an error rather
// than a silently ignored typo. Hooks come only from this file, never from
// the network: this package must never accept hook command lines from any
// other source, and it must never run them (package node/hooks does).
package config
