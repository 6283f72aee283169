package nemesis

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRackSizeKeepsAMinorityUnlessAsked(t *testing.T) {
	for _, tc := range []struct {
		nodes, most, want int // want: the largest rack drawn
	}{
		{3, 0, 1}, // a minority of three is one
		{5, 0, 2},
		{7, 0, 3},
		{3, 2, 2}, // asked for: a majority
		{5, 5, 5},
	} {
		rng := rand.New(rand.NewSource(1))
		largest, ones := 0, 0
		for range 2000 {
			n := rackSize(rng, tc.nodes, tc.most)
			require.GreaterOrEqual(t, n, 1)
			largest = max(largest, n)
			if n == 1 {
				ones++
			}
		}
		require.Equal(t, tc.want, largest, "%d nodes, most %d", tc.nodes, tc.most)
		require.Greater(t, ones, 1000, "mostly one node at a time")
	}
}
