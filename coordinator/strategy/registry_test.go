package strategy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNamesAreStableAndValid(t *testing.T) {
	require.Equal(t, []string{"by-id", "secondaries-first", "primary-first", "ring", "grouped"}, Names())
	for _, name := range Names() {
		require.NoError(t, Validate(name))
	}
	names := Names()
	names[0] = "changed"
	require.Equal(t, ByID, Names()[0], "Names must return a fresh slice")
}

func TestValidateNamesBadValueAndListsValidOnes(t *testing.T) {
	for _, bad := range []string{"", "zigzag", "BY-ID", "by_id", " by-id"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			err := Validate(bad)
			require.ErrorIs(t, err, ErrUnknownStrategy)
			require.EqualError(t, err, fmt.Sprintf(
				"unknown strategy %q: valid strategies are by-id, secondaries-first, primary-first, ring, grouped", bad))
		})
	}
}

func TestEveryStrategyDescribesItself(t *testing.T) {
	require.NotEmpty(t, All())
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			got, err := Lookup(s.Name())
			require.NoError(t, err)
			require.Equal(t, s, got, "Lookup finds what All lists")
			require.NotEmpty(t, s.Summary())
			require.NotContains(t, s.Summary(), "\n", "a summary is one line of --help")
		})
	}
	require.Contains(t, Names(), Default)
}

func TestRegisterRefusesBadAndDuplicateNames(t *testing.T) {
	before := Names()
	for _, name := range []string{"", "Ring", "ring_2", "-ring", "ring-", "ring--2", "ring 2", ByID, SecondariesFirst} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			require.Panics(t, func() { Register(namedStrategy{name: name}) })
		})
	}
	require.Equal(t, before, Names(), "a refused registration changes nothing")
}

// namedStrategy is by-id under another name.
type namedStrategy struct {
	byID
	name string
}

func (n namedStrategy) Name() string { return n.name }
