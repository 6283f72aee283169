// Package report turns a chaos run into its outputs: the JSON result, the
// Markdown report and the summary table printed at the end (runs,
// transactions, faults injected by kind, invariant violations, and recovery
// time after each fault: p50, p99, max).
package report
