package bench

import (
	"context"
	"fmt"
	"time"
)

// Baton cluster sizes of the overhead rows; a cluster's first five members
// are voters, so the seven-node one commits like five voters plus two
// non-voters.
var overheadSizes = []int{3, 5, 7}

func (s *suite) section(id, title, intro string) {
	s.r.Sections = append(s.r.Sections, Section{ID: id, Title: title, Intro: intro})
	s.logf("%s", title)
}

func (s *suite) limits(ctx context.Context) {
	s.section(SecLimits, "1. Limits, measured in this run",
		"What no coordinator on this machine can beat: the data disk's fsync, a loopback round trip, and a bare "+
			"hashicorp/raft cluster (v1.7.3, raft-boltdb v2, TCP transport on 127.0.0.1, default timings, a state machine "+
			"that does nothing) committing one 256-byte entry at a time, Apply to future returned. The no-op hooks are the "+
			"five a step runs (drain, install, restart, health, version), through Baton's own hook runner, alone.")
	ds, err := FsyncLatency(s.dir("fsync"), s.n.fsync)
	s.sample(SecLimits, "fsync of the data directory's disk (fdatasync after a 4 KiB append)", ds, err, nil, "")
	ds, err = LoopbackRTT(s.n.rtt)
	s.rtt = s.sample(SecLimits, "loopback TCP round trip (64 B each way)", ds, err, nil, "").Median
	ds, err = HTTPRoundTrip(s.n.httpRTT)
	s.sample(SecLimits, "loopback HTTP round trip (small JSON POST, kept-alive)", ds, err, nil,
		"for reference: agents talk HTTP/JSON; the limit below counts the TCP round trip")
	s.commit = map[int]float64{}
	for _, c := range []struct{ voters, nonvoters, size int }{{3, 0, 3}, {5, 0, 5}, {5, 2, 7}} {
		name := fmt.Sprintf("bare Raft commit, %d voters", c.voters)
		if c.nonvoters > 0 {
			name += fmt.Sprintf(" + %d non-voters", c.nonvoters)
		}
		ds, err := RaftCommit(ctx, s.dir(fmt.Sprintf("raft-%d-%d", c.voters, c.nonvoters)), c.voters, c.nonvoters, s.n.commit)
		s.commit[c.size] = s.sample(SecLimits, name, ds, err, nil, "").Median
	}
	ds, err = RaftTransfer(ctx, s.dir("raft-transfer"), 3, s.n.transfer)
	s.sample(SecLimits, "bare Raft leadership transfer + one commit, 3 voters", ds, err, nil, "the floor under a handoff")
	ds, err = HooksAlone(ctx, s.n.hooks)
	s.hooks = s.sample(SecLimits, "the five no-op hooks alone", ds, err, nil, "`/bin/sh -c true` four times and `echo` once").Median
	ds, err = StepOnNode(ctx, s.dir("executor"), s.n.hooks)
	s.node = s.sample(SecLimits, "one step on a node alone: the hooks plus the step journal", ds, err, nil,
		"Baton's executor in-process: its bbolt journal commits 5 fsync'd transactions a step (the attempt, install's begin, pid and end, the outcome; 17 before), not counted in the limit").Median
}

// limitOf is the limit of one step on a cluster of size nodes: two bare
// Raft commits (the step's begin and its completion notice), one round
// trip (the step sent to its node) and the hooks' own time.
func (s *suite) limitOf(nodes int) float64 { return 2*s.commit[nodes] + s.rtt + s.hooks }

func (s *suite) overhead(ctx context.Context) {
	s.section(SecOverhead, "2. Coordination overhead",
		"Clusters of real `baton agent` processes on loopback, default Raft timings, log level info, the no-op hooks. "+
			"Each run is one transaction over every node (secondaries-first, max-parallel 1, so one leadership handoff "+
			"before the old leader's own step, and a finalize at the end), after one warm-up transaction. Time per step is "+
			"the transaction's time (leader-stamped creation to finish) divided by its steps. The limit of a step is two "+
			"bare Raft commits of the same voter count (its begin and its completion notice) + one loopback round trip "+
			"+ the hooks alone, all from section 1; the ratio is per run. The indented rows split each transaction's "+
			"time into its parts, from the agents' logs, per step (the handoff and finalize happen once per transaction "+
			"and are spread over its steps); the parts add up to the time per step.")
	s.overheads = map[int]OverheadResult{}
	for _, size := range overheadSizes {
		var res OverheadResult
		err := Measure(s.dir("overhead"), s.cfg.Log, func(t *T) { res = CoordinationOverhead(t, s.cfg.Bin, size, s.n.overheadRuns) })
		name := fmt.Sprintf("time per step, %d nodes", size)
		ratioName := fmt.Sprintf("ratio to the limit, %d nodes", size)
		target := &Target{Stat: "median", Op: "<=", Value: 2}
		if err != nil {
			s.add(FailedRow(SecOverhead, name, "ms", nil, err))
			s.add(FailedRow(SecOverhead, ratioName, "x", target, err))
			continue
		}
		s.overheads[size] = res
		limit := s.limitOf(size)
		s.add(NewRow(SecOverhead, name, "ms", msAll(res.PerStep), nil,
			fmt.Sprintf("limit %s ms = 2 × %s (commit) + %s (round trip) + %s (hooks); before this work: %s ms", num(limit), num(s.commit[size]),
				num(s.rtt), num(s.hooks), beforePerStep[size])))
		var ratios []float64
		for _, d := range res.PerStep {
			ratios = append(ratios, ms(d)/limit)
		}
		s.add(unmet(NewRow(SecOverhead, ratioName, "x", ratios, target, ""), overheadHeldBack))
		if s.node > 0 {
			var withNode []float64
			for _, d := range res.PerStep {
				withNode = append(withNode, ms(d)/(limit-s.hooks+s.node))
			}
			s.add(NewRow(SecOverhead, fmt.Sprintf("  ratio with the node's own step as the hooks term, %d nodes", size), "x", withNode, nil,
				fmt.Sprintf("limit %s ms: the step on a node alone (%s ms, section 1) in place of the hooks alone", num(limit-s.hooks+s.node), num(s.node))))
		}
		for _, part := range PartOrder {
			s.add(NewRow(SecOverhead, fmt.Sprintf("  %s, %d nodes", part, size), "ms/step", msAll(res.Parts[part]), nil, ""))
		}
	}
}

func (s *suite) handoff(ctx context.Context) {
	s.section(SecHandoff, "3. Leadership handoff",
		"A three-node cluster (default timings) runs primary-first transactions: the leader's step comes first, so its "+
			"coordinator probes the other voters (diagnostic call, health hook, log lag), chooses one and calls Raft's "+
			"leadership transfer; then the successor's own step needs a second handoff. Each episode is timed from the "+
			"`decided_at` the old leader logs with \"handing leadership off\" (before the probes) to the \"step begun\" "+
			"the new leader's coordinator logs; the parts are taken from the same logs.")
	var res HandoffResult
	err := Measure(s.dir("handoff"), s.cfg.Log, func(t *T) { res = Handoffs(t, s.cfg.Bin, s.n.handoffs, 3*time.Minute) })
	target := &Target{Stat: "p99", Op: "<", Value: 50}
	name := "handoff, decision to next step begun on the new leader"
	if err != nil {
		s.add(FailedRow(SecHandoff, name, "ms", target, err))
		return
	}
	note := ""
	if res.Retries > 0 {
		note = fmt.Sprintf("%d transfers failed and were retried within their episode", res.Retries)
	}
	s.add(NewRow(SecHandoff, name, "ms", msAll(res.Total), target, joinNote(note, handoffNote)))
	s.add(NewRow(SecHandoff, "  probes of the candidates", "ms", msAll(res.Probe), nil, ""))
	s.add(NewRow(SecHandoff, "  Raft leadership transfer", "ms", msAll(res.Transfer), nil, ""))
	s.add(NewRow(SecHandoff, "  new leader: leadership gained to step begun", "ms", msAll(res.Takeover), nil, "barrier, coordinator start, step begin committed"))
}

func (s *suite) recovery(ctx context.Context) {
	s.section(SecRecovery, "4. Recovery from a leader crash",
		"A five-node cluster (five voters) runs secondaries-first transactions with the no-op hooks; 0–40 ms (at random, "+
			"seeded) after a transaction starts, the leader gets SIGKILL. Each sample is the time from the kill to the "+
			"first \"step begun\" logged by another agent, the new leader's coordinator; the killed agent is restarted "+
			"after each sample and the transaction left to finish. Parts: the kill to \"leadership gained\" (failure "+
			"detection and election) and from there to the step begun.")
	for _, c := range []struct {
		multiplier float64
		label      string
		target     float64
		note       string
	}{{1, "default Raft timings", 2000, recoveryDefaultNote}, {0.2, "`--raft-multiplier 0.2`", 1000, recoveryTunedNote}} {
		var res RecoveryResult
		err := Measure(s.dir("recovery"), s.cfg.Log, func(t *T) {
			res = Recovery(t, s.cfg.Bin, 5, c.multiplier, s.n.kills, 4*time.Minute, s.rng)
		})
		target := &Target{Stat: "p99", Op: "<", Value: c.target}
		name := "recovery, kill to next step begun, " + c.label
		if err != nil {
			s.add(FailedRow(SecRecovery, name, "ms", target, err))
			continue
		}
		note := c.note
		if res.Late > 0 {
			note = fmt.Sprintf("%d kills came after the last step had begun and were not counted. ", res.Late) + note
		}
		s.add(NewRow(SecRecovery, name, "ms", msAll(res.Total), target, note))
		s.add(NewRow(SecRecovery, "  kill to leadership gained", "ms", msAll(res.Election), nil, ""))
		s.add(NewRow(SecRecovery, "  leadership gained to step begun", "ms", msAll(res.Takeover), nil, ""))
	}
}

func (s *suite) scale(ctx context.Context) {
	s.section(SecScale, "5. Scale: 10,000 members",
		fmt.Sprintf("One `baton` agent runs in a process of its own (`batonbench scale`) as the only voter of a one-node Raft "+
			"cluster (raft-boltdb, file snapshots, TCP transport), with the real state machine and coordinator. Its "+
			"catalogue holds %d members: itself and simulated agents, committed through Raft as member.join entries. "+
			"A simulated agent answers its step in-process at once and its completion notice is committed through the "+
			"coordinator, as a real agent's would be; no HTTP is involved. The transaction upgrades every member, by-id, "+
			"max-parallel 100. Memory is the process's peak resident set: the leader, its Raft, and the simulated agents.",
			s.n.scaleMembers))
	opts := ScaleOptions{Members: s.n.scaleMembers, MaxParallel: 100, Runs: s.n.scaleRuns, Dir: s.dir("scale"), Limit: 4 * time.Minute}
	res, err := s.cfg.Scale(ctx, opts)
	stepsTarget := &Target{Stat: "max", Op: "<", Value: 20000}
	memTarget := &Target{Stat: "max", Op: "<", Value: 500}
	if err != nil {
		s.add(FailedRow(SecScale, fmt.Sprintf("transaction of %d steps", opts.Members), "ms", stepsTarget, err))
		s.add(FailedRow(SecScale, "leader memory, peak resident set", "MB", memTarget, err))
		return
	}
	s.add(NewRow(SecScale, fmt.Sprintf("transaction of %d steps, max-parallel %d", res.Members, res.MaxParallel), "ms", res.TxnMS, stepsTarget, scaleNote))
	s.add(NewRow(SecScale, "  steps per second", "steps/s", res.StepsPerSec, nil, ""))
	s.add(NewRow(SecScale, "leader memory, peak resident set", "MB", []float64{res.PeakRSSMB}, memTarget,
		fmt.Sprintf("Go heap in use at the end: %s MB; %s", num(res.HeapMB), memoryNote)))
	s.add(NewRow(SecScale, "Raft snapshot of the state, size", "MB", res.SnapshotMB, nil, ""))
	s.add(NewRow(SecScale, "Raft snapshot of the state, time", "ms", res.SnapshotMS, nil, "user snapshot: state machine snapshot and persist, with fsync"))
	s.add(NewRow(SecScale, fmt.Sprintf("`plan` of %d members", res.Members), "ms", res.PlanMS, nil, ""))
	s.add(NewRow(SecScale, fmt.Sprintf("populating: %d member.join commits", res.Members-1), "ms", []float64{res.Populate}, nil,
		fmt.Sprintf("64 in flight; the txn.start entry is %s KiB; the log ends at index %d", num(res.EntryKiB), res.Commits)))
}

// ansibleHosts must be one of overheadSizes, for the side-by-side row.
func (s *suite) ansible(ctx context.Context) {
	s.section(SecAnsible, "6. The alternative: Ansible",
		fmt.Sprintf("The same no-op hooks rolled with Debian's `ansible` package over %d hosts in an inventory, each "+
			"`ansible_connection=local`, by a playbook with `serial: 1` and `gather_facts: false` (five `shell` tasks, the "+
			"last checking the version it prints). Time per host is the playbook's wall time divided by the hosts. Baton's "+
			"time per step on %d nodes is from section 2.", s.n.ansibleHosts, s.n.ansibleHosts))
	installed, version, err := EnsureAnsible(ctx, s.cfg.Log)
	if installed {
		s.r.Setup = append(s.r.Setup, "installed Debian's `ansible` package with `apt-get install -y ansible` (it was missing)")
	}
	name := fmt.Sprintf("Ansible, time per host, %d hosts", s.n.ansibleHosts)
	if err != nil {
		s.add(FailedRow(SecAnsible, name, "ms", nil, err))
		return
	}
	if !installed {
		s.r.Setup = append(s.r.Setup, "Debian's `ansible` package was already installed")
	}
	var ds []time.Duration
	err = Measure(s.dir("ansible"), s.cfg.Log, func(t *T) {
		var aerr error
		ds, aerr = Ansible(ctx, t.TempDir(), s.n.ansibleHosts, s.n.ansibleRuns)
		if aerr != nil {
			t.Fatal(aerr)
		}
	})
	a := s.sample(SecAnsible, name, ds, err, nil, version)
	if b, ok := s.overheads[s.n.ansibleHosts]; ok && err == nil {
		bs := Summarize(msAll(b.PerStep))
		s.add(NewRow(SecAnsible, fmt.Sprintf("Baton, time per step, %d nodes (section 2)", s.n.ansibleHosts), "ms", msAll(b.PerStep), nil,
			fmt.Sprintf("Ansible takes %s× Baton's time per node", num(a.Median/bs.Median))))
	}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
