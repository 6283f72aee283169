package coordinator

import (
	"time"

	metrics "github.com/armon/go-metrics"
)

// Metrics receives what the coordinator counts and times: the part of
// go-metrics it uses, which *metrics.Metrics implements. The keys are
// documented in docs/transactions.md.
type Metrics interface {
	// IncrCounter adds val to the counter key.
	IncrCounter(key []string, val float32)
	// MeasureSince records the time elapsed since start under key.
	MeasureSince(key []string, start time.Time)
}

// globalMetrics reports to the process's go-metrics global sink as it is
// when the measurement is made (the agent installs its Prometheus sink
// after the coordinator is built).
type globalMetrics struct{}

func (globalMetrics) IncrCounter(key []string, val float32) { metrics.IncrCounter(key, val) }

func (globalMetrics) MeasureSince(key []string, start time.Time) { metrics.MeasureSince(key, start) }
