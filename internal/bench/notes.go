package bench

// The notes beside the rows: how a figure was taken and, where a target is
// not met, what holds it back and what was tried. They live here, beside
// the code that measures, so that the page and the code agree.

// unmet appends why to a row's note when the row has a target it missed.
func unmet(r Row, why string) Row {
	if r.Met != nil && !*r.Met {
		if r.Note != "" {
			r.Note += " "
		}
		r.Note += why
	}
	return r
}

const overheadHeldBack = "**Held back by** the node's own step: its five hook processes take longer inside a " +
	"busy agent on a loaded machine than alone (\"node\" below against section 1), and by the leadership handoff " +
	"and the finalize every transaction needs, spread over its steps. **Tried:** a step just delivered is no " +
	"longer checked with its node at once; a turn of the loop no longer copies the whole state; the begins of a " +
	"batch are proposed together; the node's journal fsyncs 5 bbolt transactions a step, not 17; completion " +
	"notices go straight to the leader; the leader nudges its followers (a Raft barrier, not waited for) before " +
	"sending a step, so the node's wait for its replica to apply the step's begin is a round trip rather than " +
	"Raft's idle replication tick of 50–100 ms (\"delivery\" below). Before and after: \"How the figures were " +
	"improved\"."

const handoffNote = "before this work: 8.5 ms median, 13.9 ms p99 over 106 handoffs, the same within noise"

const recoveryDefaultNote = "Raft alone notices a dead leader only by silence: 1–2 heartbeat timeouts after the " +
	"last contact, 1–3 s with the defaults (before node/failover: 1730 ms median, 2634 ms p99 over 30 kills). " +
	"Followers now hold an idle connection to the leader's API; when it drops and a new one is refused, they lower " +
	"their heartbeat and election timeouts to the leader lease (500 ms) until a leader is known."

const recoveryTunedNote = "before node/failover: 436 ms median, 564 ms p99 over 30 kills; the lowered timeouts floor at " +
	"the lease, 100 ms here."

const scaleNote = "before: 111 s and 130 s in two runs (77–90 steps/s) for the same 10,000 steps: every command " +
	"scanned every step and every turn of the loop copied the whole state; and 58–76 s to populate (each join " +
	"sorted and copied the catalogue)."

const memoryNote = "the three transactions of 10,000 steps stay in the history; before this work, with one: 69–74 MB"

// beforePerStep is the median time per step measured before this work on a
// quiet machine (20 runs each); the two trees are within noise of each other
// at these sizes.
var beforePerStep = map[int]string{3: "19.6", 5: "21.1", 7: "21.9"}

// snapshotBefore are the figures of section 7 before snapshots were
// streamed (the state encoded whole under the state machine's lock),
// measured alternately with the streamed ones under the same load (see
// "Snapshots, streamed" in cmd/batonbench/optimisations.md).
var snapshotBefore = map[int]struct{ capture, alloc, rss string }{
	10000: {"before streaming: 201 ms", "before streaming: 26.0 MB", "before streaming: 52.5 MB"},
	100000: {"before streaming: 1741 ms median over 9 (583–6702)", "before streaming: 229 MB",
		"before streaming: 346 MB"},
}
