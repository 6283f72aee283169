package strategy

import (
	"slices"
	"strings"
)

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

// sortedIDs returns the IDs of nodes in natural order.
func sortedIDs(nodes []Node) []string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	slices.SortFunc(ids, CompareID)
	return ids
}

// withoutID returns ids without id, reusing its array.
func withoutID(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
