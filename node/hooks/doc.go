// Package hooks runs one hook: a shell command line from the node's local
// config, executed with /bin/sh -c in its own process group, bounded by a
// timeout, with its combined output kept as a bounded tail.
//
// When the context ends or the timeout passes, the whole process group is
// killed with SIGKILL, so a hook's children die with it. A hook stopped on
// purpose (Spec.Terminate: its step was cancelled) gets SIGTERM first and
// SIGKILL only after a grace period. A hook that exits on its own is never
// killed, so a restart hook may leave a daemon running (its output is then
// no longer captured). A failing hook's error quotes the last lines of its
// output, so that the reason it printed ("disk full") reaches the step.
//
// This package runs exactly what it is given, once. It must never decide
// which hook to run, retry a hook, or take a command line from anywhere but
// its caller; journaling and sequencing belong to node/executor.
package hooks
