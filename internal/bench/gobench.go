package bench

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// GoBenchmark summarises the repeated runs of one Go benchmark function.
type GoBenchmark struct {
	Name        string  `json:"name"`
	NsPerOp     Summary `json:"ns_per_op"`
	BytesPerOp  Summary `json:"bytes_per_op"`
	AllocsPerOp Summary `json:"allocs_per_op"`
}

var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

// ParseGoBench reads the output of `go test -bench` (standard benchmark
// format, any -count) and summarises each benchmark over its runs, in the
// order they first appear.
func ParseGoBench(r io.Reader) ([]GoBenchmark, error) {
	type runs struct{ ns, b, allocs []float64 }
	var order []string
	byName := map[string]*runs{}
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := pkg + "." + gomaxprocsSuffix.ReplaceAllString(f[0], "")
		rs, ok := byName[name]
		if !ok {
			rs = &runs{}
			byName[name] = rs
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				rs.ns = append(rs.ns, v)
			case "B/op":
				rs.b = append(rs.b, v)
			case "allocs/op":
				rs.allocs = append(rs.allocs, v)
			}
		}
	}
	out := make([]GoBenchmark, 0, len(order))
	for _, name := range order {
		rs := byName[name]
		out = append(out, GoBenchmark{Name: name, NsPerOp: Summarize(rs.ns), BytesPerOp: Summarize(rs.b), AllocsPerOp: Summarize(rs.allocs)})
	}
	return out, sc.Err()
}
