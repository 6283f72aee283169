package checker

import (
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// CheckSettled checks I7: once the last fault healed, every transaction
// reached a terminal state (done or aborted) within SettleBound. A
// transaction halted in failed is not settled: after the heal the suite
// retries it once and then aborts it, so it must still end within the
// bound. When it ended is when its txn.finalize or txn.finish reached the
// suite.
func CheckSettled(in Input) Result {
	ended := map[string]time.Time{}
	for _, e := range in.Commands {
		switch e.Type {
		case api.EventTxnFinalize, api.EventTxnFinish:
			ended[e.Txn] = e.Received
		}
	}
	deadline := in.Healed.Add(in.SettleBound)
	checked := 0
	for _, t := range in.Final {
		checked++
		if !t.State.Terminal() {
			return verdict(checked, &Violation{At: in.End, Txn: t.ID,
				What: fmt.Sprintf("still %s %s after the last fault healed (%s)", t.State,
					in.End.Sub(in.Healed).Round(time.Second), t.Reason)})
		}
		if at, ok := ended[t.ID]; ok && at.After(deadline) {
			return verdict(checked, &Violation{At: at, Txn: t.ID,
				What: fmt.Sprintf("ended %s after the last fault healed, beyond the %s bound", at.Sub(in.Healed).Round(time.Second), in.SettleBound)})
		}
	}
	return verdict(checked, nil)
}
