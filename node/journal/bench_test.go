package journal

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
)

// BenchmarkStepRecords writes the 17 records of a no-op step (the attempt;
// begin, pid and end of drain, install, restart, health and version; the
// outcome) on the data directory's disk: every record fsync'd, as the
// executor wrote them before, and only the attempt, install's three and
// the outcome fsync'd, the others deferred, as it writes them now.
func BenchmarkStepRecords(b *testing.B) {
	for _, mode := range []string{"every-record-fsynced", "five-fsynced"} {
		b.Run(mode, func(b *testing.B) {
			j, err := Open(filepath.Join(b.TempDir(), "journal.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			b.ResetTimer()
			for i := range b.N {
				s := Step{TxnID: fmt.Sprintf("txn-%d", i), Node: "n1", Attempt: 1, TargetVersion: "2.0.0"}
				if _, _, err := j.Begin(s); err != nil {
					b.Fatal(err)
				}
				for _, hook := range []string{"drain", "install", "restart", "health", "version"} {
					var w interface {
						HookBegin(Key, string) error
						HookStarted(Key, string, int) error
						HookEnd(Key, string, Outcome) error
					} = j
					if mode == "five-fsynced" && hook != "install" {
						w = j.Deferred()
					}
					if err := w.HookBegin(s.Key(), hook); err != nil {
						b.Fatal(err)
					}
					if err := w.HookStarted(s.Key(), hook, 4242); err != nil {
						b.Fatal(err)
					}
					if err := w.HookEnd(s.Key(), hook, Outcome{Output: "ok\n"}); err != nil {
						b.Fatal(err)
					}
				}
				if err := j.Finish(s.Key(), api.StepDone, "2.0.0", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
