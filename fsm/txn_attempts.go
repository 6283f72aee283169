package fsm

import "time"

// beginAttempt records the attempt st has just begun, keeping the latest
// MaxAttempts. It never writes into the slice it found: copies of the
// state handed to readers may share it.
func (st *Step) beginAttempt(now time.Time) {
	keep := st.Attempts
	if len(keep) >= MaxAttempts {
		keep = keep[len(keep)-MaxAttempts+1:]
	}
	out := make([]Attempt, 0, len(keep)+1)
	out = append(out, keep...)
	st.Attempts = append(out, Attempt{Attempt: st.Attempt, Rollback: st.Rollback, State: StepRunning,
		FromVersion: st.FromVersion, ToVersion: st.ToVersion, StartedAt: now})
}

// endAttempt records how the current attempt ended. An attempt begun
// before this build kept attempts (restored from an older snapshot) has no
// record, and gets none.
func (st *Step) endAttempt(state StepState, now time.Time, errText string) {
	n := len(st.Attempts)
	if n == 0 || st.Attempts[n-1].Attempt != st.Attempt {
		return
	}
	out := append([]Attempt(nil), st.Attempts...)
	out[n-1].State, out[n-1].FinishedAt, out[n-1].Error = state, now, errText
	st.Attempts = out
}
