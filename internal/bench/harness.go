package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// T lets the process-cluster helpers of jepsen/procs run outside
// `go test`: it implements procs.TB. Fatal stops the measurement in
// progress (Measure turns it into an error), cleanups run when it ends,
// and log lines go to the driver's progress output.
type T struct {
	root     string
	keep     bool
	log      io.Writer
	cleanups []func()
	failed   bool
}

// failure is what Fatal panics with; Measure recovers it.
type failure struct{ msg string }

// Measure runs fn with a fresh T whose temporary directories live under
// root, runs the cleanups fn registered (last first), and returns the
// message of a Fatal call as an error.
func Measure(root string, log io.Writer, fn func(t *T)) (err error) {
	t := &T{root: root, log: log, keep: os.Getenv("BATONBENCH_KEEP") != ""}
	defer func() {
		r := recover()
		if f, ok := r.(failure); ok {
			err = errors.New(f.msg)
		} else if r != nil {
			t.failed = true
			t.runCleanups()
			panic(r)
		}
		t.runCleanups()
	}()
	fn(t)
	return nil
}

func (t *T) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// Helper implements procs.TB.
func (t *T) Helper() {}

// Fatal stops the measurement with the message.
func (t *T) Fatal(args ...any) {
	t.failed = true
	panic(failure{fmt.Sprint(args...)})
}

// Fatalf stops the measurement with the formatted message.
func (t *T) Fatalf(format string, args ...any) {
	t.failed = true
	panic(failure{fmt.Sprintf(format, args...)})
}

// Logf writes a progress line.
func (t *T) Logf(format string, args ...any) { fmt.Fprintf(t.log, "    "+format+"\n", args...) }

// Cleanup registers fn to run when the measurement ends.
func (t *T) Cleanup(fn func()) { t.cleanups = append(t.cleanups, fn) }

// TempDir returns a new directory under the run's root, removed at the end
// unless the measurement failed (its logs then help to find out why) or
// BATONBENCH_KEEP is set.
func (t *T) TempDir() string {
	dir, err := os.MkdirTemp(t.root, "m-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() {
		if t.failed || t.keep {
			fmt.Fprintf(t.log, "    kept %s for inspection\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// Failed reports whether Fatal was called.
func (t *T) Failed() bool { return t.failed }
