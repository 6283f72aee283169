package history

import "time"

// Fault is one fault a nemesis injected: what, on which nodes, when, when it
// healed, and when the cluster served a consistent read again afterwards.
type Fault struct {
	ID     int       `json:"id"`
	Kind   string    `json:"kind"`
	Nodes  []string  `json:"nodes,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Start  time.Time `json:"start"`
	// Available is when, probing from the start of the fault, the cluster
	// first served a consistent read (zero if not before the heal's probe
	// ended).
	Available time.Time `json:"available"`
	Healed    time.Time `json:"healed"`
	// Recovered is zero when the cluster did not recover within the probe's
	// bound.
	Recovered time.Time `json:"recovered"`
}

// Recovery is how long after the heal the cluster served a consistent read
// again, or -1 when it did not.
func (f Fault) Recovery() time.Duration {
	if f.Recovered.IsZero() || f.Healed.IsZero() {
		return -1
	}
	return max(f.Recovered.Sub(f.Healed), 0)
}

// Outage is how long after the fault began the cluster first served a
// consistent read, or -1 when the probe gave up.
func (f Fault) Outage() time.Duration {
	if f.Available.IsZero() {
		return -1
	}
	return max(f.Available.Sub(f.Start), 0)
}

// Launch is one start of an agent process: which build it ran (its version
// and protocol range) from when.
type Launch struct {
	Node        string    `json:"node"`
	Version     string    `json:"version"`
	ProtocolMin int       `json:"protocol_min"`
	ProtocolMax int       `json:"protocol_max"`
	At          time.Time `json:"at"`
}
