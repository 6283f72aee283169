package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// Result is everything a run reports, as written to result.json.
type Result struct {
	Seed     int64     `json:"seed"`
	Nodes    int       `json:"nodes"`
	Duration string    `json:"duration"`
	Nemeses  string    `json:"nemeses"`
	Network  string    `json:"network"`
	Notes    []string  `json:"notes,omitempty"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Runs     int       `json:"runs"`

	Transactions Transactions          `json:"transactions"`
	Operations   map[string]int        `json:"operations"` // "kind/type" -> count
	Faults       map[string]FaultStats `json:"faults"`     // kind -> stats
	Recovery     Percentiles           `json:"recovery"`   // over every fault
	Checks       []checker.Result      `json:"checks"`
	Crashes      int                   `json:"crashes"`
	// DiskStops counts the agents that stopped by themselves on a disk
	// fault (disk-full, fsync-fail), as they must; they are not crashes.
	DiskStops int `json:"disk_stops"`
	// Snapshots is what Raft did with snapshots on each agent, from the
	// agents' logs.
	Snapshots map[string]procs.SnapshotActivity `json:"snapshots"`
}

// Transactions counts the transactions by how they ended.
type Transactions struct {
	Started int `json:"started"`
	Done    int `json:"done"`
	Aborted int `json:"aborted"`
	Other   int `json:"other"`
}

// FaultStats counts one kind of fault and its recovery times (from the
// heal) and outages (from the start).
type FaultStats struct {
	Count       int         `json:"count"`
	Unrecovered int         `json:"unrecovered"`
	Recovery    Percentiles `json:"recovery"`
	Outage      Percentiles `json:"outage"`
}

// Percentiles of recovery time after a heal.
type Percentiles struct {
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// Violations counts the checks that failed or could not decide.
func (r *Result) Violations() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status != checker.Pass {
			n++
		}
	}
	return n
}

// Tally fills the counts from the history.
func (r *Result) Tally(ops []history.Op, faults []history.Fault, final []history.TxnView) {
	r.Operations = map[string]int{}
	for _, op := range ops {
		r.Operations[op.Kind+"/"+string(op.Type)]++
	}
	r.Transactions = Transactions{Started: len(final)}
	for _, t := range final {
		switch t.State {
		case "done":
			r.Transactions.Done++
		case "aborted":
			r.Transactions.Aborted++
		default:
			r.Transactions.Other++
		}
	}
	r.Faults = map[string]FaultStats{}
	byKind := map[string][]time.Duration{}
	outages := map[string][]time.Duration{}
	var all []time.Duration
	for _, f := range faults {
		s := r.Faults[f.Kind]
		s.Count++
		if d := f.Outage(); d >= 0 {
			outages[f.Kind] = append(outages[f.Kind], d)
		}
		if d := f.Recovery(); d >= 0 {
			byKind[f.Kind] = append(byKind[f.Kind], d)
			all = append(all, d)
		} else {
			s.Unrecovered++
		}
		r.Faults[f.Kind] = s
	}
	for k, s := range r.Faults {
		s.Recovery = percentiles(byKind[k])
		s.Outage = percentiles(outages[k])
		r.Faults[k] = s
	}
	r.Recovery = percentiles(all)
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Percentiles{P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// WriteSummary prints the summary table.
func (r *Result) WriteSummary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "seed\t%d\n", r.Seed)
	fmt.Fprintf(tw, "nodes\t%d\n", r.Nodes)
	fmt.Fprintf(tw, "duration\t%s\n", r.Duration)
	fmt.Fprintf(tw, "network\t%s\n", r.Network)
	fmt.Fprintf(tw, "runs\t%d\n", r.Runs)
	fmt.Fprintf(tw, "transactions\t%d (done %d, aborted %d, other %d)\n", r.Transactions.Started,
		r.Transactions.Done, r.Transactions.Aborted, r.Transactions.Other)
	fmt.Fprintf(tw, "operations\t%s\n", opsLine(r.Operations))
	fmt.Fprintf(tw, "agent crashes\t%d\n", r.Crashes)
	if r.DiskStops > 0 {
		fmt.Fprintf(tw, "agent stops on disk faults\t%d\n", r.DiskStops)
	}
	fmt.Fprintf(tw, "violations\t%d\n", r.Violations())
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tinjected\trecovery after heal p50\tp99\tmax\tnot recovered\toutage from start p50\tmax")
	for _, k := range sortedKinds(r.Faults) {
		s := r.Faults[k]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", k, s.Count, ms(s.Recovery.P50), ms(s.Recovery.P99), ms(s.Recovery.Max),
			s.Unrecovered, ms(s.Outage.P50), ms(s.Outage.Max))
	}
	fmt.Fprintf(tw, "all\t%d\t%s\t%s\t%s\t\t\t\n", total(r.Faults), ms(r.Recovery.P50), ms(r.Recovery.P99), ms(r.Recovery.Max))
	tw.Flush()
	fmt.Fprintln(w)
	if len(r.Snapshots) > 0 {
		r.writeSnapshots(w)
		fmt.Fprintln(w)
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tinvariant\tresult\tchecked\tcounter-example")
	for _, c := range r.Checks {
		ce := ""
		if c.Violation != nil {
			ce = c.Violation.String()
		} else if c.Status != checker.Pass {
			ce = c.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", c.Invariant, c.Name, strings.ToUpper(string(c.Status)), c.Checked, ce)
	}
	tw.Flush()
}

// writeSnapshots prints the snapshots each agent took, tried to send (as
// leader), installed from a leader and restored at a start, and Raft's
// snapshot errors (a send to a node that is down fails until it is back).
func (r *Result) writeSnapshots(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "node\tsnapshots taken\tsends tried (leader)\tinstalled from a leader\trestored at start\tfailed (retried)")
	var all procs.SnapshotActivity
	var ids []string
	for id := range r.Snapshots {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := r.Snapshots[id]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", id, s.Taken, s.SendsTried, s.Installed, s.Restored, s.Failed)
		all = all.Add(s)
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t%d\t%d\n", all.Taken, all.SendsTried, all.Installed, all.Restored, all.Failed)
	tw.Flush()
}

func opsLine(ops map[string]int) string {
	var ok, fail, info int
	for k, n := range ops {
		switch {
		case strings.HasSuffix(k, "/ok"):
			ok += n
		case strings.HasSuffix(k, "/fail"):
			fail += n
		case strings.HasSuffix(k, "/info"):
			info += n
		}
	}
	return fmt.Sprintf("%d (ok %d, fail %d, info %d)", ok+fail+info, ok, fail, info)
}

func total(f map[string]FaultStats) int {
	n := 0
	for _, s := range f {
		n += s.Count
	}
	return n
}

func sortedKinds(f map[string]FaultStats) []string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Write writes result.json and report.md into dir.
func (r *Result) Write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644)
}

// Markdown renders the report.
func (r *Result) Markdown() string {
	var b strings.Builder
	verdict := "no violations"
	if n := r.Violations(); n > 0 {
		verdict = fmt.Sprintf("%d VIOLATION(S)", n)
	}
	fmt.Fprintf(&b, "# Chaos run: %s\n\n", verdict)
	fmt.Fprintf(&b, "Seed **%d**, %d nodes, %s, nemeses `%s`, network: %s.\n\n", r.Seed, r.Nodes, r.Duration, r.Nemeses, r.Network)
	fmt.Fprintf(&b, "Reproduce with:\n\n```sh\n%s\n```\n\n", r.Command)
	fmt.Fprintf(&b, "Started %s, finished %s.\n\n", r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("## Summary\n\n```\n")
	r.WriteSummary(&b)
	b.WriteString("```\n\n## Checks\n\n| check | invariant | result | checked | counter-example or note |\n|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		detail := c.Note
		if c.Violation != nil {
			detail = c.Violation.String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s |\n", c.Invariant, c.Name, strings.ToUpper(string(c.Status)), c.Checked,
			strings.ReplaceAll(detail, "|", `\|`))
	}
	b.WriteString("\n## Files\n\n`history.jsonl` (every operation, invoke and completion), `events.jsonl` (every event of every agent's stream), " +
		"`faults.jsonl`, `launches.jsonl`, `linearizability.html` (porcupine's view), `result.json`, `cluster/` (agents' logs, data dirs, hook journal).\n")
	return b.String()
}
