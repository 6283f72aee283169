package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestViewOrdersByRingThenId(t *testing.T) {
	v := NewView(State{
		Index:   9,
		Members: members("n1", "h:1", "n2", "h:2", "n3", "h:3", "n4", "", "n5", "h:5", "n0", "h:0"),
		Ring:    []string{"n3", "gone", "n1", "n4", "n3"},
		Out:     map[string]string{"n1": "step running", "n9": "step running"},
	})
	require.Equal(t, []string{"n3", "n1", "n0", "n2", "n5"}, ids(v.Nodes()),
		"the ring first (without non-members, members without an address or repeats), then the rest by id")
	require.Equal(t, []string{"n3", "n0", "n2", "n5"}, ids(v.Rotation()))
	n1, ok := v.Node("n1")
	require.True(t, ok)
	require.False(t, n1.InRotation)
	require.Equal(t, "step running", n1.Why)
	_, ok = v.Node("n4")
	require.False(t, ok, "no service address, not routable")
}

func TestSuccessor(t *testing.T) {
	v := NewView(State{
		Members: members("a", "h:1", "b", "h:2", "c", "h:3", "d", "h:4"),
		Ring:    []string{"a", "b", "c", "d"},
		Out:     map[string]string{"c": "step running"},
	})
	none := func(string) bool { return false }
	cases := []struct {
		from     string
		excluded []string
		want     string
	}{
		{"a", nil, "b"},
		{"b", nil, "d"},               // c is out of rotation
		{"d", nil, "a"},               // the last's successor is the first
		{"c", nil, "d"},               // a node out of rotation has a successor too
		{"a", []string{"b"}, "d"},     // already tried
		{"gone", nil, "a"},            // unknown: the first in ring order
		{"a", []string{"b", "d"}, ""}, // none left
	}
	for _, c := range cases {
		ex := none
		if c.excluded != nil {
			ex = func(id string) bool {
				for _, e := range c.excluded {
					if e == id {
						return true
					}
				}
				return false
			}
		}
		got, ok := v.Successor(c.from, ex)
		if c.want == "" {
			require.False(t, ok, "from %s", c.from)
			continue
		}
		require.True(t, ok, "from %s", c.from)
		require.Equal(t, c.want, got.ID, "from %s excluding %v", c.from, c.excluded)
	}
	empty := NewView(State{})
	_, ok := empty.Successor("a", none)
	require.False(t, ok)
}
