package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// Target is a goal for one statistic of a row: Stat (median, p99 or max)
// compared with Value by Op (< or <=).
type Target struct {
	Stat  string  `json:"stat"`
	Op    string  `json:"op"`
	Value float64 `json:"value"`
}

// Met reports whether s meets the target.
func (t Target) Met(s Summary) bool {
	v := map[string]float64{"median": s.Median, "p99": s.P99, "max": s.Max}[t.Stat]
	if s.N == 0 || math.IsNaN(v) {
		return false
	}
	if t.Op == "<" {
		return v < t.Value
	}
	return v <= t.Value
}

func (t Target) String() string {
	op := map[string]string{"<": "<", "<=": "≤"}[t.Op]
	return fmt.Sprintf("%s %s %s", t.Stat, op, trimFloat(t.Value))
}

// Row is one measured figure.
type Row struct {
	Section string  `json:"section"`
	Name    string  `json:"name"`
	Unit    string  `json:"unit"`
	Summary Summary `json:"summary"`
	// Samples are kept for figures with few of them, so a reader can see
	// every run; large sample sets are summarised only.
	Samples []float64 `json:"samples,omitempty"`
	Target  *Target   `json:"target,omitempty"`
	Met     *bool     `json:"met,omitempty"`
	// Note says how the figure was taken and, for a target not met, what
	// holds it back and what was tried.
	Note string `json:"note,omitempty"`
	// Err says why the figure could not be measured in this run.
	Err string `json:"error,omitempty"`
}

// NewRow summarises samples into a row, judging the target if there is one.
func NewRow(section, name, unit string, samples []float64, target *Target, note string) Row {
	r := Row{Section: section, Name: name, Unit: unit, Summary: Summarize(samples), Target: target, Note: note}
	if len(samples) <= 60 {
		r.Samples = samples
	}
	if target != nil {
		met := target.Met(r.Summary)
		r.Met = &met
	}
	return r
}

// FailedRow records a figure that could not be measured, and why.
func FailedRow(section, name, unit string, target *Target, err error) Row {
	r := Row{Section: section, Name: name, Unit: unit, Target: target, Err: err.Error()}
	if target != nil {
		met := false
		r.Met = &met
	}
	return r
}

// Report is the outcome of one run of the benchmarks.
type Report struct {
	Command  string        `json:"command"`
	Started  time.Time     `json:"started"`
	Took     string        `json:"took"`
	Machine  Machine       `json:"machine"`
	Setup    []string      `json:"setup,omitempty"`
	Sections []Section     `json:"sections"`
	Rows     []Row         `json:"rows"`
	GoBench  []GoBenchmark `json:"go_benchmarks,omitempty"`
	// Carried lists the sections kept from an earlier report (MergeFrom).
	Carried []Carried `json:"carried,omitempty"`
	// Appendix is Markdown appended after the tables (how the figures
	// were improved, with before/after).
	Appendix string `json:"-"`
}

// Section introduces a group of rows.
type Section struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Intro string `json:"intro"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Markdown renders the report as the page docs/benchmarks.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Baton benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `%s` on %s (the run took %s); run `make bench` to measure again (it installs\n", r.Command, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Took)
	b.WriteString("Debian's `ansible` when it is missing, and writes this page and `docs/benchmarks.json`). Every figure in\n")
	if len(r.Carried) == 0 {
		b.WriteString("the tables was measured in that run. Times are in milliseconds unless the unit says otherwise.\n")
	} else {
		b.WriteString("the tables was measured in that run, but those of the sections marked as carried over, which that run\n")
		b.WriteString("kept from an earlier one (`batonbench -merge`). Times are in milliseconds unless the unit says otherwise.\n")
	}
	b.WriteString("Each figure gives its number of samples (n), median, 99th percentile and spread: the interquartile\n")
	b.WriteString("range p25–p75 and the extremes. With fewer than 100 samples the p99 is interpolated between the two\n")
	b.WriteString("largest. A target is judged on the statistic it names.\n\n")
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	m := r.Machine
	for _, kv := range [][2]string{
		{"CPU", fmt.Sprintf("%s, %d logical cores", m.CPU, m.Cores)},
		{"memory", fmt.Sprintf("%.1f GiB", m.MemoryGiB)},
		{"OS", fmt.Sprintf("%s, Linux %s", m.OS, m.Kernel)},
		{"Go", m.Go},
		{"data directory", fmt.Sprintf("`%s` on %s", m.DataDir, m.DataDisk)},
		{"load average (1, 5, 15 min)", fmt.Sprintf("%s at the start, %s at the end (other work on the machine shows in every figure)", m.LoadStart, m.LoadEnd)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	if len(r.Setup) > 0 {
		b.WriteString("\n**Set-up:**\n\n")
		for _, s := range r.Setup {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	for _, sec := range r.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n", sec.Title)
		for _, c := range r.Carried {
			if c.ID == sec.ID {
				fmt.Fprintf(&b, "*Carried over, not measured again in this run: measured by `%s` on %s, on %s, "+
					"and judged against that run's limits.*\n\n", c.Command, c.From.UTC().Format("2006-01-02 15:04 MST"), c.Machine)
			}
		}
		if sec.Intro != "" {
			b.WriteString(sec.Intro + "\n\n")
		}
		b.WriteString("| figure | unit | n | median | p99 | spread p25–p75 (min–max) | target | met | notes |\n")
		b.WriteString("|---|---|--:|--:|--:|---|---|---|---|\n")
		for _, row := range r.Rows {
			if row.Section == sec.ID {
				b.WriteString(row.markdown())
			}
		}
	}
	if len(r.GoBench) > 0 {
		b.WriteString("\n## Go benchmarks\n\n")
		b.WriteString("`go test -run '^$' -bench . -benchmem` over the hot paths, repeated; each figure is per operation.\n\n")
		b.WriteString("| benchmark | runs | median ns/op | p99 ns/op | spread (min–max) | median B/op | median allocs/op |\n")
		b.WriteString("|---|--:|--:|--:|---|--:|--:|\n")
		for _, g := range r.GoBench {
			s := g.NsPerOp
			fmt.Fprintf(&b, "| `%s` | %d | %s | %s | %s–%s | %s | %s |\n", g.Name, s.N, num(s.Median), num(s.P99),
				num(s.Min), num(s.Max), num(g.BytesPerOp.Median), num(g.AllocsPerOp.Median))
		}
	}
	if r.Appendix != "" {
		b.WriteString("\n" + strings.TrimSpace(r.Appendix) + "\n")
	}
	return b.String()
}

func (row Row) markdown() string {
	target, met := "", ""
	if row.Target != nil {
		target = row.Target.String()
	}
	if row.Met != nil {
		met = map[bool]string{true: "yes", false: "**no**"}[*row.Met]
	}
	note := strings.ReplaceAll(row.Note, "\n", " ")
	if row.Err != "" {
		note = strings.TrimSpace("not measured: " + row.Err + ". " + note)
		return fmt.Sprintf("| %s | %s | 0 | – | – | – | %s | %s | %s |\n", row.Name, row.Unit, target, met, note)
	}
	s := row.Summary
	return fmt.Sprintf("| %s | %s | %d | %s | %s | %s–%s (%s–%s) | %s | %s | %s |\n", row.Name, row.Unit, s.N,
		num(s.Median), num(s.P99), num(s.P25), num(s.P75), num(s.Min), num(s.Max), target, met, note)
}

// num prints a figure with three significant digits, without exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// Carried names a section of an earlier report that a run did not measure
// again and kept (batonbench -merge).
type Carried struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	From    time.Time `json:"from"`
	Command string    `json:"command"`
	// Machine describes the machine of that run (CPU, cores, kernel,
	// load), which may not be this run's.
	Machine string `json:"machine"`
}

// ReadReport reads a report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// sectionOrder is the order of the sections on the page.
var sectionOrder = []string{SecLimits, SecOverhead, SecHandoff, SecRecovery, SecScale, SecAnsible, SecSnapshot}

// MergeFrom keeps, from an earlier report, every section this run did not
// measure, with its rows, and the earlier Go benchmarks when this run has
// none; each kept section is listed in Carried with the earlier run's
// date, and the page says so. A carried section was judged against the
// earlier run's limits. Sections a section of the earlier report carried
// keep their first date.
func (r *Report) MergeFrom(old *Report) {
	have := map[string]bool{}
	for _, s := range r.Sections {
		have[s.ID] = true
	}
	carriedFrom := map[string]Carried{}
	for _, c := range old.Carried {
		carriedFrom[c.ID] = c
	}
	for _, s := range old.Sections {
		if have[s.ID] {
			continue
		}
		c, ok := carriedFrom[s.ID]
		if !ok {
			m := old.Machine
			c = Carried{ID: s.ID, Title: s.Title, From: old.Started, Command: old.Command,
				Machine: fmt.Sprintf("%s, %d logical cores, Linux %s, load average %s at its start", m.CPU, m.Cores, m.Kernel, m.LoadStart)}
		}
		r.Carried = append(r.Carried, c)
		r.Sections = append(r.Sections, s)
		for _, row := range old.Rows {
			if row.Section == s.ID {
				r.Rows = append(r.Rows, row)
			}
		}
		if s.ID == SecAnsible && !ok {
			for _, line := range old.Setup {
				r.Setup = append(r.Setup, fmt.Sprintf("%s (by the run of %s, whose section %q is carried over)",
					line, old.Started.UTC().Format("2006-01-02 15:04 MST"), s.Title))
			}
		} else if s.ID == SecAnsible {
			r.Setup = append(r.Setup, old.Setup...)
		}
	}
	if len(r.GoBench) == 0 {
		r.GoBench = old.GoBench
	}
	rank := func(id string) int {
		for i, s := range sectionOrder {
			if s == id {
				return i
			}
		}
		return len(sectionOrder)
	}
	sort.SliceStable(r.Sections, func(i, j int) bool { return rank(r.Sections[i].ID) < rank(r.Sections[j].ID) })
}
