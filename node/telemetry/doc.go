// Package telemetry serves what hashicorp/raft, raft-boltdb and Baton count
// and time through go-metrics (the library hashicorp/raft reports to) as
// Prometheus metrics named by Prometheus's conventions: a go-metrics sink
// that is also a prometheus.Collector. It must never drop a series into a
// name (a peer id is a label), serve a summary (quantiles are NaN while
// idle) or a counter without _total.
package telemetry
