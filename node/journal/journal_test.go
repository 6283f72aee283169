package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func openTemp(t *testing.T, opts Options) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := OpenWith(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j, path
}

func step(txn string, attempt uint64) Step {
	return Step{
		TxnID: txn, Node: "n1", Attempt: attempt, TargetVersion: "2.0.0", FromVersion: "1.0.0",
		ArtifactURL: "https://example.test/app.tgz", ArtifactSHA256: "ab", ProtocolVersion: 2,
	}
}

func TestRoundTrip(t *testing.T) {
	j, _ := openTemp(t, Options{})
	s := step("txn-1", 1)
	rec, existed, err := j.Begin(s)
	require.NoError(t, err)
	require.False(t, existed)
	require.Equal(t, api.StepRunning, rec.State)
	require.Equal(t, s, rec.Step)

	key := s.Key()
	require.NoError(t, j.HookBegin(key, "install"))
	require.NoError(t, j.HookStarted(key, "install", 4242))
	mid, err := j.Get(key)
	require.NoError(t, err)
	run, ok := mid.Hook("install")
	require.True(t, ok)
	require.Equal(t, 4242, run.PID)
	require.False(t, run.HasEnded())

	require.NoError(t, j.HookEnd(key, "install", Outcome{ExitCode: 0, Output: "installed\n"}))
	require.NoError(t, j.Finish(key, api.StepDone, "2.0.0", ""))

	got, err := j.Get(key)
	require.NoError(t, err)
	require.Equal(t, api.StepDone, got.State)
	require.Equal(t, "2.0.0", got.Version)
	require.Empty(t, got.Error)
	require.False(t, got.Acked)
	require.False(t, got.Finished.IsZero())
	require.Len(t, got.Hooks, 1)
	run = got.Hooks[0]
	require.Equal(t, "install", run.Name)
	require.Equal(t, 1, run.Runs)
	require.Equal(t, 4242, run.PID)
	require.Equal(t, "installed\n", run.Output)
	require.True(t, run.Succeeded())

	require.NoError(t, j.MarkAcked(key))
	require.NoError(t, j.MarkAcked(key), "marking twice is harmless")
	got, err = j.Get(key)
	require.NoError(t, err)
	require.True(t, got.Acked)
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(path)
	require.NoError(t, err)
	key := step("txn-1", 2).Key()
	_, _, err = j.Begin(step("txn-1", 2))
	require.NoError(t, err)
	require.NoError(t, j.HookBegin(key, "drain"))
	require.NoError(t, j.HookEnd(key, "drain", Outcome{ExitCode: 1, Output: "busy", Error: "hook drain exited 1: busy"}))
	require.NoError(t, j.Finish(key, api.StepFailed, "1.0.0", "hook drain exited 1: busy"))
	before, err := j.Get(key)
	require.NoError(t, err)
	require.NoError(t, j.Close())

	j, err = Open(path)
	require.NoError(t, err)
	defer j.Close()
	after, err := j.Get(key)
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.False(t, after.Hooks[0].Succeeded())
}

func TestBeginTwiceReturnsTheExistingRecord(t *testing.T) {
	j, _ := openTemp(t, Options{})
	first, existed, err := j.Begin(step("txn-1", 1))
	require.NoError(t, err)
	require.False(t, existed)
	require.NoError(t, j.HookBegin(first.Key(), "install"))

	changed := step("txn-1", 1)
	changed.TargetVersion = "9.9.9"
	second, existed, err := j.Begin(changed)
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, "2.0.0", second.Step.TargetVersion, "Begin must never overwrite")
	require.Equal(t, first.Seq, second.Seq)
	require.Len(t, second.Hooks, 1)

	third, existed, err := j.Begin(step("txn-1", 2))
	require.NoError(t, err)
	require.False(t, existed, "a new attempt is a new record")
	require.Greater(t, third.Seq, first.Seq)
}

func TestHookBeginAgainReplacesTheRun(t *testing.T) {
	j, _ := openTemp(t, Options{})
	key := step("txn-1", 1).Key()
	_, _, err := j.Begin(step("txn-1", 1))
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		require.NoError(t, j.HookBegin(key, "health"))
		require.NoError(t, j.HookEnd(key, "health", Outcome{ExitCode: 1, Error: "not yet"}))
	}
	rec, err := j.Get(key)
	require.NoError(t, err)
	require.Len(t, rec.Hooks, 1)
	require.Equal(t, 3, rec.Hooks[0].Runs)
}

func TestWritesRejectedOutOfOrder(t *testing.T) {
	j, _ := openTemp(t, Options{})
	key := step("txn-1", 1).Key()

	_, err := j.Get(key)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, j.HookBegin(key, "install"), ErrNotFound)

	_, _, err = j.Begin(step("txn-1", 1))
	require.NoError(t, err)
	require.ErrorContains(t, j.HookEnd(key, "install", Outcome{}), "never begun")
	require.ErrorContains(t, j.HookStarted(key, "install", 1), "never begun")
	require.ErrorIs(t, j.MarkAcked(key), ErrNotFinished)
	require.Error(t, j.Finish(key, api.StepRunning, "", ""))

	require.NoError(t, j.HookBegin(key, "install"))
	require.NoError(t, j.HookEnd(key, "install", Outcome{}))
	require.ErrorContains(t, j.HookEnd(key, "install", Outcome{}), "already ended")

	require.NoError(t, j.Finish(key, api.StepDone, "2.0.0", ""))
	require.ErrorIs(t, j.Finish(key, api.StepFailed, "", "late"), ErrFinished)
	require.ErrorIs(t, j.HookBegin(key, "version"), ErrFinished)
	rec, err := j.Get(key)
	require.NoError(t, err)
	require.Equal(t, api.StepDone, rec.State, "a finished record never changes state")
}

func TestBeginRejectsBadKeys(t *testing.T) {
	j, _ := openTemp(t, Options{})
	_, _, err := j.Begin(step("", 1))
	require.ErrorContains(t, err, "empty transaction id")
	_, _, err = j.Begin(step("a\x00b", 1))
	require.ErrorContains(t, err, "NUL")
}

func TestUnfinishedAndUnacked(t *testing.T) {
	j, _ := openTemp(t, Options{})
	running := step("txn-a", 1)
	doneAcked := step("txn-b", 1)
	doneUnacked := step("txn-c", 1)
	failedUnacked := step("txn-d", 1)
	for _, s := range []Step{running, doneAcked, doneUnacked, failedUnacked} {
		_, _, err := j.Begin(s)
		require.NoError(t, err)
	}
	require.NoError(t, j.Finish(doneAcked.Key(), api.StepDone, "2.0.0", ""))
	require.NoError(t, j.MarkAcked(doneAcked.Key()))
	require.NoError(t, j.Finish(doneUnacked.Key(), api.StepDone, "2.0.0", ""))
	require.NoError(t, j.Finish(failedUnacked.Key(), api.StepFailed, "1.0.0", "boom"))

	unfinished, err := j.Unfinished()
	require.NoError(t, err)
	require.Equal(t, []Key{running.Key()}, keys(unfinished))

	unacked, err := j.Unacked()
	require.NoError(t, err)
	require.Equal(t, []Key{doneUnacked.Key(), failedUnacked.Key()}, keys(unacked))
}

func TestPruneDropsOnlyOldestFinishedAndAcked(t *testing.T) {
	j, _ := openTemp(t, Options{MaxRecords: 3})
	var all []Step
	for i := 1; i <= 3; i++ {
		s := step("txn", uint64(i))
		all = append(all, s)
		_, _, err := j.Begin(s)
		require.NoError(t, err)
	}
	// Attempt 1 stays running and 2 unacknowledged: neither may go.
	require.NoError(t, j.Finish(all[1].Key(), api.StepFailed, "", "x"))
	require.NoError(t, j.Finish(all[2].Key(), api.StepDone, "2.0.0", ""))
	require.NoError(t, j.MarkAcked(all[2].Key()))

	_, _, err := j.Begin(step("txn", 4))
	require.NoError(t, err)
	recs, err := j.Records()
	require.NoError(t, err)
	require.Equal(t, []Key{{"txn", 1}, {"txn", 2}, {"txn", 4}}, keys(recs), "attempt 3, the oldest acked, is pruned")

	// Over the limit with nothing prunable: kept rather than lost.
	_, _, err = j.Begin(step("txn", 5))
	require.NoError(t, err)
	recs, err = j.Records()
	require.NoError(t, err)
	require.Len(t, recs, 4)

	// Acknowledging makes room again.
	require.NoError(t, j.MarkAcked(all[1].Key()))
	recs, err = j.Records()
	require.NoError(t, err)
	require.Equal(t, []Key{{"txn", 1}, {"txn", 4}, {"txn", 5}}, keys(recs))
}

func TestPruneAtDefaultLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes over a thousand fsync'd records")
	}
	j, _ := openTemp(t, Options{})
	for i := 1; i <= DefaultMaxRecords+5; i++ {
		s := step("txn", uint64(i))
		_, _, err := j.Begin(s)
		require.NoError(t, err)
		require.NoError(t, j.Finish(s.Key(), api.StepDone, "2.0.0", ""))
		require.NoError(t, j.MarkAcked(s.Key()))
	}
	recs, err := j.Records()
	require.NoError(t, err)
	require.Len(t, recs, DefaultMaxRecords)
	require.Equal(t, uint64(6), recs[0].Step.Attempt)
}

func TestOpenLockedGivesAClearError(t *testing.T) {
	_, path := openTemp(t, Options{})
	start := time.Now()
	_, err := OpenWith(path, Options{OpenTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), path)
	require.Less(t, time.Since(start), 30*time.Second)
}

func TestKeysSortByTxnThenAttempt(t *testing.T) {
	ordered := []Key{{"a", 1}, {"a", 2}, {"a", 10}, {"a", 256}, {"ab", 1}, {"b", 0}}
	for i := 1; i < len(ordered); i++ {
		require.Negative(t, bytes.Compare(ordered[i-1].encode(), ordered[i].encode()), "%s < %s", ordered[i-1], ordered[i])
	}
}

func keys(recs []Record) []Key {
	out := make([]Key, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Key())
	}
	return out
}

// Records keep the state names they were always written with, so a
// journal written by an older build reads the same.
func TestRecordStateNamesArePersistedUnchanged(t *testing.T) {
	old := []byte(`{"Step":{"TxnID":"t-1","Node":"n1","Attempt":2,"TargetVersion":"2.0.0"},"Seq":7,` +
		`"State":"done","Hooks":null,"Version":"2.0.0","Error":"","Acked":false,` +
		`"Began":"2026-03-01T12:00:00Z","Finished":"2026-03-01T12:01:00Z"}`)
	rec, err := decodeRecord(old)
	require.NoError(t, err)
	require.Equal(t, api.StepDone, rec.State)
	require.True(t, finished(rec.State))
	for state, word := range map[api.StepState]string{api.StepRunning: "running", api.StepDone: "done", api.StepFailed: "failed"} {
		raw, err := json.Marshal(Record{State: state})
		require.NoError(t, err)
		require.Contains(t, string(raw), `"State":"`+word+`"`)
	}
}

func TestHookEndKeepsTheWholeTailInTheLogs(t *testing.T) {
	j, _ := openTemp(t, Options{})
	s := step("txn-1", 1)
	_, _, err := j.Begin(s)
	require.NoError(t, err)
	key := s.Key()
	big := strings.Repeat("x", api.HookOutputLimit-len("disk full\n")) + "disk full\n"
	require.NoError(t, j.HookBegin(key, "install"))
	require.NoError(t, j.HookStarted(key, "install", 77))
	require.NoError(t, j.HookEnd(key, "install", Outcome{ExitCode: 3, Output: big, Truncated: true, Error: "hook install exited 3: disk full"}))

	logs, err := j.Logs(key)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	l := logs[0]
	require.Equal(t, "install", l.Hook)
	require.Equal(t, 1, l.Runs)
	require.Equal(t, 3, l.ExitCode)
	require.Equal(t, big, l.Output)
	require.True(t, l.Truncated)
	require.False(t, l.Began.IsZero())
	require.False(t, l.Ended.Before(l.Began))

	rec, err := j.Get(key)
	require.NoError(t, err)
	run, _ := rec.Hook("install")
	require.Equal(t, l.Began, run.Began)
	require.Equal(t, l.Ended, run.Ended)
	require.LessOrEqual(t, len(run.Output), RecordOutputLimit, "the record keeps a short tail only")
	require.True(t, strings.HasSuffix(run.Output, "disk full\n"))
}

func TestLogsKeepTheLatestRunOfEachHook(t *testing.T) {
	j, _ := openTemp(t, Options{})
	_, _, err := j.Begin(step("txn-1", 1))
	require.NoError(t, err)
	key := step("txn-1", 1).Key()
	require.NoError(t, j.HookBegin(key, "drain"))
	require.NoError(t, j.HookEnd(key, "drain", Outcome{Output: "drained\n"}))
	for i := 1; i <= 3; i++ {
		require.NoError(t, j.HookBegin(key, "health"))
		require.NoError(t, j.HookEnd(key, "health", Outcome{ExitCode: 1, Output: fmt.Sprintf("poll %d\n", i), Error: "not yet"}))
	}
	logs, err := j.Logs(key)
	require.NoError(t, err)
	require.Len(t, logs, 2)
	require.Equal(t, "drain", logs[0].Hook)
	require.Equal(t, "health", logs[1].Hook)
	require.Equal(t, 3, logs[1].Runs)
	require.Equal(t, "poll 3\n", logs[1].Output)
}

func TestLogsOfAnAttemptAreBounded(t *testing.T) {
	j, _ := openTemp(t, Options{})
	_, _, err := j.Begin(step("txn-1", 1))
	require.NoError(t, err)
	key := step("txn-1", 1).Key()
	hooks := []string{"drain", "install", "restart", "health", "version"}
	for _, h := range hooks {
		out := strings.Repeat(h[:1], api.HookOutputLimit-len(h)-1) + h + "\n"
		require.NoError(t, j.HookBegin(key, h))
		require.NoError(t, j.HookEnd(key, h, Outcome{Output: out}))
	}
	logs, err := j.Logs(key)
	require.NoError(t, err)
	require.Len(t, logs, len(hooks), "every run keeps its entry")
	total := 0
	for i, l := range logs {
		total += len(l.Output)
		require.Equal(t, hooks[i], l.Hook)
		require.True(t, strings.HasSuffix(l.Output, hooks[i]+"\n") || l.Output == "", "a trimmed output keeps its end: %s", hooks[i])
	}
	require.LessOrEqual(t, total, MaxAttemptOutput)
	require.Len(t, logs[len(logs)-1].Output, api.HookOutputLimit, "the latest run is kept whole")
	require.True(t, logs[0].Truncated, "the oldest run is trimmed first")
	require.False(t, logs[len(logs)-1].Truncated)
}

func TestAttemptsOfATransactionInAttemptOrder(t *testing.T) {
	j, _ := openTemp(t, Options{})
	for _, s := range []Step{step("txn-1", 2), step("txn-10", 1), step("txn-1", 1), step("txn-0", 1), step("txn-1", 10)} {
		_, _, err := j.Begin(s)
		require.NoError(t, err)
	}
	recs, err := j.Attempts("txn-1")
	require.NoError(t, err)
	require.Equal(t, []Key{{"txn-1", 1}, {"txn-1", 2}, {"txn-1", 10}}, keys(recs))
	recs, err = j.Attempts("nope")
	require.NoError(t, err)
	require.Empty(t, recs)
}

func TestRequestCancel(t *testing.T) {
	j, _ := openTemp(t, Options{})
	running, finishedStep := step("txn-1", 1), step("txn-2", 1)
	for _, s := range []Step{running, finishedStep} {
		_, _, err := j.Begin(s)
		require.NoError(t, err)
	}
	require.NoError(t, j.Finish(finishedStep.Key(), api.StepDone, "2.0.0", ""))

	rec, err := j.RequestCancel(running.Key(), "step timed out after 4s")
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, rec.State)
	require.Equal(t, "step timed out after 4s", rec.CancelReason)
	rec, err = j.RequestCancel(running.Key(), "transaction aborted")
	require.NoError(t, err)
	require.Equal(t, "step timed out after 4s", rec.CancelReason, "the first reason stays")
	got, err := j.Get(running.Key())
	require.NoError(t, err)
	require.Equal(t, rec, got)

	before, err := j.Get(finishedStep.Key())
	require.NoError(t, err)
	rec, err = j.RequestCancel(finishedStep.Key(), "too late")
	require.NoError(t, err)
	require.Equal(t, before, rec, "a finished attempt is left as it was")
	got, err = j.Get(finishedStep.Key())
	require.NoError(t, err)
	require.Equal(t, before, got)

	_, err = j.RequestCancel(Key{"nope", 1}, "x")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestPruneDropsLogs(t *testing.T) {
	j, _ := openTemp(t, Options{MaxRecords: 3, MaxLogRecords: 2})
	for i := uint64(1); i <= 4; i++ {
		s := step("txn", i)
		_, _, err := j.Begin(s)
		require.NoError(t, err)
		require.NoError(t, j.HookBegin(s.Key(), "install"))
		require.NoError(t, j.HookEnd(s.Key(), "install", Outcome{Output: fmt.Sprintf("attempt %d\n", i)}))
		require.NoError(t, j.Finish(s.Key(), api.StepDone, "2.0.0", ""))
		require.NoError(t, j.MarkAcked(s.Key()))
	}
	recs, err := j.Records()
	require.NoError(t, err)
	require.Equal(t, []Key{{"txn", 2}, {"txn", 3}, {"txn", 4}}, keys(recs))
	for attempt, want := range map[uint64]int{1: 0, 2: 0, 3: 1, 4: 1} {
		logs, err := j.Logs(Key{"txn", attempt})
		require.NoError(t, err)
		require.Len(t, logs, want, "attempt %d", attempt)
	}
}

// crashCopy is what a crash of the process would leave: the file as the
// kernel holds it, opened by a new journal.
func crashCopy(t *testing.T, path string) *Journal {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	cp := filepath.Join(t.TempDir(), "journal.db")
	require.NoError(t, os.WriteFile(cp, raw, 0o600))
	j, err := Open(cp)
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func TestDeferredWritesAreReadAtOnceAndDurableWithTheNextWrite(t *testing.T) {
	j, path := openTemp(t, Options{})
	s := step("txn-1", 1)
	key := s.Key()
	_, _, err := j.Begin(s)
	require.NoError(t, err)

	d := j.Deferred()
	require.NoError(t, d.HookBegin(key, "drain"))
	require.NoError(t, d.HookStarted(key, "drain", 77))
	require.NoError(t, d.HookEnd(key, "drain", Outcome{Output: "drained\n"}))

	// Every read sees them.
	rec, err := j.Get(key)
	require.NoError(t, err)
	drain, ok := rec.Hook("drain")
	require.True(t, ok)
	require.True(t, drain.Succeeded())
	require.Equal(t, 77, drain.PID)
	logs, err := j.Logs(key)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	unfinished, err := j.Unfinished()
	require.NoError(t, err)
	require.Len(t, unfinished, 1)
	_, ok = unfinished[0].Hook("drain")
	require.True(t, ok)

	// A crash now leaves the attempt without them: the file holds only the
	// durable begin.
	crashed, err := crashCopy(t, path).Get(key)
	require.NoError(t, err)
	_, ok = crashed.Hook("drain")
	require.False(t, ok, "a deferred write is not on disk before the next durable one")

	// The next durable write commits them with it, in order.
	require.NoError(t, j.HookBegin(key, "install"))
	crashed, err = crashCopy(t, path).Get(key)
	require.NoError(t, err)
	drain, ok = crashed.Hook("drain")
	require.True(t, ok)
	require.True(t, drain.Succeeded())
	_, ok = crashed.Hook("install")
	require.True(t, ok)
	logs, err = crashCopy(t, path).Logs(key)
	require.NoError(t, err)
	require.Len(t, logs, 1)
}

func TestADeferredWriteIsCheckedLikeADurableOne(t *testing.T) {
	j, path := openTemp(t, Options{})
	s := step("txn-1", 1)
	key := s.Key()
	_, _, err := j.Begin(s)
	require.NoError(t, err)
	d := j.Deferred()
	require.ErrorContains(t, d.HookEnd(key, "drain", Outcome{}), "never begun")
	require.ErrorIs(t, d.HookBegin(Key{TxnID: "other", Attempt: 1}, "drain"), ErrNotFound)
	require.ErrorIs(t, d.MarkAcked(key), ErrNotFinished)

	// The refused writes are not pending: later writes commit cleanly.
	require.NoError(t, j.Finish(key, api.StepDone, "2.0.0", ""))
	require.NoError(t, d.MarkAcked(key))
	rec, err := j.Get(key)
	require.NoError(t, err)
	require.True(t, rec.Acked)
	require.Empty(t, rec.Hooks)
	crashed, err := crashCopy(t, path).Get(key)
	require.NoError(t, err)
	require.False(t, crashed.Acked, "the mark is deferred")

	// Close makes it durable.
	require.NoError(t, j.Close())
	reopened, err := Open(path)
	require.NoError(t, err)
	defer reopened.Close()
	rec, err = reopened.Get(key)
	require.NoError(t, err)
	require.True(t, rec.Acked)
}

func TestDeferredWritesBeyondTheBoundAreCommitted(t *testing.T) {
	j, path := openTemp(t, Options{})
	s := step("txn-1", 1)
	key := s.Key()
	_, _, err := j.Begin(s)
	require.NoError(t, err)
	d := j.Deferred()
	for range maxPending + 1 {
		require.NoError(t, d.HookBegin(key, "health"))
		require.NoError(t, d.HookEnd(key, "health", Outcome{ExitCode: 1, Error: "exit status 1"}))
	}
	crashed, err := crashCopy(t, path).Get(key)
	require.NoError(t, err)
	health, ok := crashed.Hook("health")
	require.True(t, ok, "a long poll reaches the disk")
	require.GreaterOrEqual(t, health.Runs, maxPending/2)
}
