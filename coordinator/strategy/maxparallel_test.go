package strategy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMaxParallelGood(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want int
	}{
		{"1", 7, 1},
		{"3", 7, 3},
		{"007", 10, 7},
		{"7", 7, 7},
		{"10", 7, 7}, // capped at the cluster size
		{"10", 0, 10},
		{"25%", 7, 1}, // 1.75 rounds down
		{"50%", 7, 3}, // 3.5 rounds down
		{"100%", 7, 7},
		{"1%", 7, 1}, // rounds down to 0, raised to 1
		{"1%", 1000, 10},
		{"33%", 3, 1},
		{"34%", 3, 1},
		{"67%", 3, 2},
		{"25%", 0, 1},
		{"100%", 1, 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s of %d", tc.in, tc.n), func(t *testing.T) {
			got, err := ParseMaxParallel(tc.in, tc.n)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseMaxParallelBad(t *testing.T) {
	const count = "must be a positive integer or a percentage like 25%"
	const percent = "a percentage must be a whole number from 1% to 100%"
	cases := []struct {
		in   string
		want string
	}{
		{"", count},
		{"0", count},
		{"-1", count},
		{"+3", count},
		{" 3", count},
		{"3 ", count},
		{"abc", count},
		{"3.5", count},
		{"1_000", count},
		{"99999999999999999999999", count},
		{"%", percent},
		{"0%", percent},
		{"101%", percent},
		{"12.5%", percent},
		{"-5%", percent},
		{"25%%", percent},
		{"99999999999999999999999%", percent},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := ParseMaxParallel(tc.in, 7)
			require.Zero(t, got)
			require.EqualError(t, err, fmt.Sprintf("max-parallel %q: %s", tc.in, tc.want))
		})
	}
}

func TestParseMaxParallelErrorText(t *testing.T) {
	_, err := ParseMaxParallel("0", 5)
	require.EqualError(t, err, `max-parallel "0": must be a positive integer or a percentage like 25%`)
}
