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

const overheadHeldBack = "**Held back by** the node's own step, which no coordinator can shorten: inside the agent " +
	"its hooks run slower than alone, and its journal commits 17 fsync'd bbolt transactions per step, before and " +
	"after every hook (\"node\" below; \"one step on a node alone\" in section 1); and by the leadership handoff and " +
	"the finalize every transaction needs, spread over its steps. **Tried:** a step just delivered is no longer " +
	"checked with its node at once (one HTTP round trip and a journal read per step); a turn of the loop no longer " +
	"copies the whole state; the begins of a batch are proposed together. **Left:** fewer fsyncs in the journal " +
	"(the pid and the end of a hook that may run twice need not be durable) and notices sent straight to the " +
	"leader rather than through the node's own agent, both in node/, outside this work."

const handoffNote = "before this work: 17.6 ms median, 123 ms p99 over 100 handoffs (see the end of the page)"

const recoveryDefaultNote = "Raft alone notices a dead leader only by silence: 1–2 heartbeat timeouts after the " +
	"last contact, 1–3 s with the defaults (before node/failover: 1815 ms median, 2555 ms p99 over 30 kills). " +
	"Followers now hold an idle connection to the leader's API; when it drops and a new one is refused, they lower " +
	"their heartbeat and election timeouts to the leader lease (500 ms) until a leader is known."

const recoveryTunedNote = "before node/failover: 400 ms median, 529 ms p99 over 30 kills; the lowered timeouts floor at " +
	"the lease, 100 ms here."

const scaleNote = "before: 111 s (90 steps/s) for the same 10,000 steps: every command scanned every step and " +
	"every turn of the loop copied the whole state; and 76 s to populate (each join sorted and copied the catalogue)."

const memoryNote = "the three transactions of 10,000 steps stay in the history; before this work, with one: 74 MB"
