// Package netns builds the chaos suite's private network: a hub network
// namespace holding a bridge, one namespace per agent with an address of
// its own (10.77.0.N), and a control namespace (10.77.0.100) from which the
// suite's clients reach every agent. Partitions are real packet filtering:
// iptables DROP rules in a chain of each agent's namespace, between agents
// only, so the clients keep reaching every live agent.
//
// It must never touch the machine's own interfaces, addresses or packet
// filter: every interface it makes is created inside its namespaces, every
// rule lives in them, and Teardown deletes them all (deleting a namespace
// deletes its interfaces and rules).
package netns
