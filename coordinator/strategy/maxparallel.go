package strategy

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseMaxParallel parses the value of --max-parallel: a positive integer
// ("3") or a whole percentage of the cluster from 1% to 100% ("25%"). n is the
// number of nodes in the transaction. A percentage is taken of n, rounded
// down but at least 1. When n > 0 the result is capped at n, since more
// parallelism than nodes means nothing.
//
// Errors name the bad value, for example
// `max-parallel "0": must be a positive integer or a percentage like 25%`.
func ParseMaxParallel(s string, n int) (int, error) {
	if digits, ok := strings.CutSuffix(s, "%"); ok {
		pct, err := parseDigits(digits)
		if err != nil || pct < 1 || pct > 100 {
			return 0, fmt.Errorf("max-parallel %q: a percentage must be a whole number from 1%% to 100%%", s)
		}
		return capAt(max(1, percentOf(n, pct)), n), nil
	}
	count, err := parseDigits(s)
	if err != nil || count < 1 {
		return 0, fmt.Errorf("max-parallel %q: must be a positive integer or a percentage like 25%%", s)
	}
	return capAt(count, n), nil
}

// parseDigits accepts only ASCII digits: no sign, spaces or underscores, so
// "+3" and " 3" are rejected rather than silently accepted.
func parseDigits(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

func capAt(v, n int) int {
	if n > 0 && v > n {
		return n
	}
	return v
}

// percentOf returns floor(n*pct/100) for n >= 0 without overflowing, and 0
// for a negative n.
func percentOf(n, pct int) int {
	if n <= 0 {
		return 0
	}
	return n/100*pct + n%100*pct/100
}
