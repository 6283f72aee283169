package strategy

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompareIDPairs(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"n1", "n2", -1},
		{"n2", "n10", -1},
		{"n10", "n9", 1},
		{"n10", "n10", 0},
		{"", "", 0},
		{"", "n1", -1},
		{"n", "n1", -1},
		{"n01", "n1", -1}, // numerically equal runs: plain string order decides
		{"n1", "n01", 1},
		{"n1a", "n01b", -1}, // runs decide ("a" < "b") before the plain-string tie break
		{"a10b2", "a10b10", -1},
		{"node-2", "node-10", -1},
		{"2", "10", -1},
		{"10", "a", -1}, // '1' < 'a'
		{"-1", "1", -1}, // '-' < '1'
		{"n99999999999999999999999", "n100000000000000000000000", -1},
		{"n000", "n0", 1}, // equal numbers; "n0" is a prefix of "n000"
		{"rack2-n10", "rack10-n1", -1},
		{"rack2-n10", "rack2-n9", 1},
		{"Z1", "a1", -1}, // byte order: upper case first
	}
	for _, tc := range cases {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			require.Equal(t, tc.want, CompareID(tc.a, tc.b))
			require.Equal(t, -tc.want, CompareID(tc.b, tc.a))
			require.Equal(t, tc.want < 0, LessID(tc.a, tc.b))
		})
	}
}

func TestCompareIDSortsMixedNames(t *testing.T) {
	ids := []string{"n10", "node-10", "n2", "db1", "n1", "n02", "n", "10", "9", "node-2"}
	slices.SortFunc(ids, CompareID)
	require.Equal(t, []string{"9", "10", "db1", "n", "n1", "n02", "n2", "n10", "node-2", "node-10"}, ids)
}

// TestCompareIDIsATotalOrder checks antisymmetry, that only identical
// strings compare equal, and transitivity (through a sorted sequence whose
// every pair must agree) on generated IDs.
func TestCompareIDIsATotalOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "-", ".", "0", "1", "2", "9", "Z", "é"}
	ids := make([]string, 300)
	for i := range ids {
		n := rng.IntN(6)
		for range n {
			ids[i] += alphabet[rng.IntN(len(alphabet))]
		}
	}
	for _, a := range ids {
		for _, b := range ids {
			c := CompareID(a, b)
			require.Equal(t, -c, CompareID(b, a), "%q vs %q", a, b)
			require.Equal(t, a == b, c == 0, "%q vs %q", a, b)
		}
	}
	slices.SortFunc(ids, CompareID)
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			require.LessOrEqual(t, CompareID(ids[i], ids[j]), 0, "%q before %q", ids[i], ids[j])
		}
	}
}
