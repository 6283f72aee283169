package strategy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Names of the supported strategies, as given to --strategy and stored in a
// transaction.
const (
	// ByID upgrades the nodes one after another in natural ID order (S1 rule 1).
	ByID = "by-id"
	// SecondariesFirst upgrades every non-leader in ID order and the leader
	// last (S1 rule 2).
	SecondariesFirst = "secondaries-first"
	// PrimaryFirst upgrades the leader first and then the others in ID order
	// (S1 rule 3).
	PrimaryFirst = "primary-first"
)

// ErrUnknownStrategy is wrapped by every error about a strategy name that is
// not one of Names.
var ErrUnknownStrategy = errors.New("unknown strategy")

// ErrInvalidNodes is wrapped by every error about a node list or an order that
// cannot be used: an empty or duplicated ID, or an ordered ID that is not a
// known node.
var ErrInvalidNodes = errors.New("invalid nodes")

// Node is what a strategy knows about one member.
type Node struct {
	// ID is the member's unique, non-empty Raft server ID.
	ID string
	// Voter is true when the member votes in Raft elections and so counts
	// towards the quorum.
	Voter bool
	// Labels are the member's free-form labels; the strategies of S1 ignore
	// them, later ones (ring, grouped) read them.
	Labels map[string]string
}

// Names returns the supported strategy names in a stable order, for --help
// and error messages. The caller may modify the returned slice.
func Names() []string {
	return []string{ByID, SecondariesFirst, PrimaryFirst}
}

// Validate returns nil for a supported strategy name. For any other name it
// returns an error wrapping ErrUnknownStrategy that names the bad value and
// lists the valid ones.
func Validate(name string) error {
	if slices.Contains(Names(), name) {
		return nil
	}
	return fmt.Errorf("%w %q: valid strategies are %s",
		ErrUnknownStrategy, name, strings.Join(Names(), ", "))
}

// Order returns node IDs in the order the strategy upgrades them. leaderID is
// the Raft leader when the transaction starts (the "primary" or "master" of
// S1).
//
// by-id sorts ascending by ID in natural order (see CompareID), so n2 comes
// before n10. secondaries-first gives every non-leader in by-id order, then
// the leader. primary-first gives the leader first, then the rest in by-id
// order. When leaderID is empty or not among nodes, secondaries-first and
// primary-first fall back to by-id order.
//
// Order returns an error wrapping ErrUnknownStrategy for an unknown name and
// one wrapping ErrInvalidNodes when an ID is empty or appears twice. It never
// modifies nodes.
func Order(name string, nodes []Node, leaderID string) ([]string, error) {
	if err := Validate(name); err != nil {
		return nil, err
	}
	if err := checkIDs(nodes); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(nodes))
	leaderKnown := false
	for _, n := range nodes {
		if leaderID != "" && n.ID == leaderID {
			leaderKnown = true
			continue
		}
		ids = append(ids, n.ID)
	}
	slices.SortFunc(ids, CompareID)
	if !leaderKnown {
		return ids, nil
	}
	switch name {
	case SecondariesFirst:
		return append(ids, leaderID), nil
	case PrimaryFirst:
		return append([]string{leaderID}, ids...), nil
	default: // ByID: the leader takes its natural place.
		ids = append(ids, leaderID)
		slices.SortFunc(ids, CompareID)
		return ids, nil
	}
}

// checkIDs reports an empty or duplicated node ID, which would make an order
// ambiguous.
func checkIDs(nodes []Node) error {
	seen := make(map[string]struct{}, len(nodes))
	for i, n := range nodes {
		if n.ID == "" {
			return fmt.Errorf("%w: node %d has an empty ID", ErrInvalidNodes, i)
		}
		if _, dup := seen[n.ID]; dup {
			return fmt.Errorf("%w: node ID %q appears twice", ErrInvalidNodes, n.ID)
		}
		seen[n.ID] = struct{}{}
	}
	return nil
}

// CompareID orders node IDs naturally and returns -1, 0 or +1 like
// strings.Compare. Both IDs are split into runs of ASCII digits and runs of
// other bytes; runs are compared pairwise, two digit runs by numeric value
// (of any length, without overflow) and any other pair byte-wise, so n2 < n10
// and db-9 < db-10. An ID that is a prefix of the other in runs comes first.
// IDs whose runs are all equal (such as n01 and n1) are ordered by plain
// string comparison, so the order is total: CompareID returns 0 only for
// identical strings.
func CompareID(a, b string) int {
	ra, rb := a, b
	for ra != "" && rb != "" {
		var ca, cb string
		ca, ra = nextRun(ra)
		cb, rb = nextRun(rb)
		if c := compareRun(ca, cb); c != 0 {
			return c
		}
	}
	switch {
	case ra == "" && rb != "":
		return -1
	case ra != "" && rb == "":
		return 1
	}
	return strings.Compare(a, b)
}

// LessID reports whether node ID a comes before b in natural order; see
// CompareID. It is what sort and slices functions need.
func LessID(a, b string) bool {
	return CompareID(a, b) < 0
}

// nextRun splits s into its first run (all digits or all non-digits) and
// the rest. s must not be empty.
func nextRun(s string) (run, rest string) {
	digit := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digit {
		i++
	}
	return s[:i], s[i:]
}

// compareRun compares two runs. A digit run against a non-digit run is
// compared byte-wise: their first bytes differ in class, and since the
// digits are contiguous in ASCII this places all numbers at one consistent
// point among the other bytes, which keeps the order transitive.
func compareRun(a, b string) int {
	if !isDigit(a[0]) || !isDigit(b[0]) {
		return strings.Compare(a, b)
	}
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool {
	return '0' <= c && c <= '9'
}
