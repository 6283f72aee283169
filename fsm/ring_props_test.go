package fsm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRingNeighboursNeverRunTogether applies random command sequences to
// ring transactions over random rings of three to seven members, with
// random batches (a start whose batches hold neighbours is refused), and
// checks after every command that no two ring neighbours' steps run at
// once (I9), whatever begins, completions, failures, retries, aborts and
// rollbacks are accepted.
func TestRingNeighboursNeverRunTogether(t *testing.T) {
	for seq := range 200 {
		r := rand.New(rand.NewPCG(20261201, uint64(seq)))
		s := NewState(3)
		n := 3 + r.IntN(5)
		var ring []string
		for i := 1; i <= n; i++ {
			m := member(fmt.Sprintf("n%d", i), fmt.Sprint(7000+i), fmt.Sprint(8000+i))
			m.Protocol = ProtocolRange{Min: 1, Max: 3}
			s.Members[m.ID] = m
			ring = append(ring, m.ID)
		}
		r.Shuffle(n, func(a, b int) { ring[a], ring[b] = ring[b], ring[a] })
		var index uint64
		now := t0
		apply := func(typ CommandType, body any) error {
			index++
			now = now.Add(time.Second)
			return s.Apply(index, envelopeAt(t, typ, now, body))
		}
		// Batches drawn at random until a start is accepted.
		for range 100 {
			tx := Txn{ID: txID, TargetVersion: target, Strategy: StrategyRing, MaxParallel: 1 + r.IntN(n), OnFailure: OnFailureHalt,
				StepTimeout: Duration(time.Minute), ProgressDeadline: Duration(time.Hour), Ring: ring}
			if r.IntN(2) == 0 {
				tx.OnFailure = OnFailureRollback
			}
			batch := 0
			for _, id := range r.Perm(n) {
				tx.Steps = append(tx.Steps, Step{Node: ring[id], Batch: batch})
				if r.IntN(2) == 0 {
					batch++
				}
			}
			if apply(CmdTxnStart, TxnStart{Txn: tx}) == nil {
				break
			}
		}
		if s.Txns[txID] == nil {
			continue
		}
		for range 80 {
			tx := s.Txns[txID]
			node := ring[r.IntN(n)]
			st := tx.Step(node)
			switch r.IntN(7) {
			case 0, 1:
				_ = apply(CmdStepBegin, StepBegin{TxnID: txID, Node: node, Attempt: st.Attempt + 1, Rollback: r.IntN(3) == 0})
			case 2:
				_ = apply(CmdStepComplete, StepComplete{TxnID: txID, Node: node, Attempt: st.Attempt, Version: st.ToVersion})
			case 3:
				_ = apply(CmdStepFail, StepFail{TxnID: txID, Node: node, Attempt: st.Attempt, Error: "boom"})
			case 4:
				_ = apply(CmdTxnRetry, TxnControl{TxnID: txID})
			case 5:
				_ = apply(CmdTxnAbort, TxnAbort{TxnID: txID, Rollback: r.IntN(2) == 0})
			case 6:
				_ = apply(CmdTxnResume, TxnControl{TxnID: txID})
			}
			for i, a := range ring {
				b := ring[(i+1)%n]
				require.False(t, tx.Step(a).State == StepRunning && tx.Step(b).State == StepRunning,
					"sequence %d: ring neighbours %s and %s run at once (ring %v)", seq, a, b, ring)
			}
		}
	}
}
