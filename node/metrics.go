package node

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	gometrics "github.com/armon/go-metrics"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	sinkOnce sync.Once
	sink     *telemetry.Sink
	sinkErr  error
)

// processSink installs, once per process, the go-metrics sink that Raft,
// raft-boltdb and Baton report to.
func processSink() (*telemetry.Sink, error) {
	sinkOnce.Do(func() {
		s := telemetry.NewSink()
		cfg := gometrics.DefaultConfig("baton")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false
		if _, err := gometrics.NewGlobal(cfg, s); err != nil {
			sinkErr = fmt.Errorf("metrics: %w", err)
			return
		}
		sink = s
	})
	return sink, sinkErr
}

// MetricsHandler returns the Prometheus handler of this agent
// (GET /v1/metrics): what Raft, raft-boltdb and the agent report through
// go-metrics, named by Prometheus's conventions (node/telemetry); the
// agent's view of the cluster, computed from its state at each scrape
// (docs/operations.md lists every metric); and the Go runtime's and the
// process's own.
func (a *Agent) MetricsHandler() (http.Handler, error) {
	s, err := processSink()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(s); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(stateCollector{a}); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// stateCollector serves the metrics operators alert on, read from the
// agent's replicated state when scraped: every agent serves the same
// numbers, and none is NaN or missing while idle.
type stateCollector struct{ a *Agent }

var (
	descLeader = prometheus.NewDesc("baton_agent_leader",
		"1 if this agent is the Raft leader, else 0.", nil, nil)
	descProtocol = prometheus.NewDesc("baton_protocol_active",
		"The cluster's active protocol version.", nil, nil)
	descMembers = prometheus.NewDesc("baton_members",
		"Members of the catalogue by liveness status (alive, unreachable, unknown) and whether they vote.", []string{"status", "voter"}, nil)
	descTxnState = prometheus.NewDesc("baton_transaction_state",
		"1 for the state the active transaction is in, 0 for the others; all 0 when none is active.", []string{"state"}, nil)
	descSteps = prometheus.NewDesc("baton_transaction_steps",
		"Steps of the active transaction by state (all 0 when none is active).", []string{"state"}, nil)
	descSinceProgress = prometheus.NewDesc("baton_transaction_seconds_since_progress",
		"Seconds since the active transaction last made progress (a step completed, or it started); absent when none is active.", nil, nil)
	descStepDuration = prometheus.NewDesc("baton_step_duration_seconds",
		"How long the completed steps of the transactions kept in history took, from begin to completion notice.", nil, nil)
	descTxns = prometheus.NewDesc("baton_transactions",
		"Transactions kept in history by state.", []string{"state"}, nil)
)

var (
	activeStates = []fsm.TxnState{fsm.TxnRunning, fsm.TxnPaused, fsm.TxnFailed, fsm.TxnFinalizing, fsm.TxnAborting}
	allTxnStates = append(append([]fsm.TxnState{}, activeStates...), fsm.TxnDone, fsm.TxnAborted)
	stepStates   = []fsm.StepState{fsm.StepPending, fsm.StepRunning, fsm.StepDone, fsm.StepFailed, fsm.StepRolledBack}
	liveStates   = []string{fsm.LivenessAlive, fsm.LivenessUnreachable, "unknown"}
)

// Describe implements prometheus.Collector.
func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descProtocol, descMembers, descTxnState, descSteps,
		descSinceProgress, descStepDuration, descTxns} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	leader := 0.0
	if c.a.parts != nil && c.a.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader)
	now := time.Now()
	c.a.fsm.View(func(s *fsm.State) {
		ch <- prometheus.MustNewConstMetric(descProtocol, prometheus.GaugeValue, float64(s.ProtocolVersion))
		members := map[[2]string]int{}
		for _, m := range s.Members {
			status := "unknown"
			if m.Liveness != nil {
				status = m.Liveness.Status
			}
			members[[2]string{status, fmt.Sprint(m.Voter)}]++
		}
		for _, st := range liveStates {
			for _, voter := range []string{"true", "false"} {
				ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(members[[2]string{st, voter}]), st, voter)
			}
		}
		active := s.ActiveTxn()
		for _, st := range activeStates {
			v := 0.0
			if active != nil && active.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descTxnState, prometheus.GaugeValue, v, string(st))
		}
		for _, st := range stepStates {
			n := 0
			if active != nil {
				n = active.Count(st)
			}
			ch <- prometheus.MustNewConstMetric(descSteps, prometheus.GaugeValue, float64(n), string(st))
		}
		if active != nil {
			ch <- prometheus.MustNewConstMetric(descSinceProgress, prometheus.GaugeValue, now.Sub(active.LastProgressAt).Seconds())
		}
		byState := map[fsm.TxnState]int{}
		buckets := make(map[float64]uint64, len(telemetry.DurationBuckets))
		var count uint64
		var sum float64
		for _, t := range s.TxnList() {
			byState[t.State]++
			for _, st := range t.Steps {
				if st.State != fsm.StepDone || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
					continue
				}
				d := st.FinishedAt.Sub(st.StartedAt).Seconds()
				count++
				sum += d
				for _, le := range telemetry.DurationBuckets {
					if d <= le {
						buckets[le]++
					}
				}
			}
		}
		for _, st := range allTxnStates {
			ch <- prometheus.MustNewConstMetric(descTxns, prometheus.GaugeValue, float64(byState[st]), string(st))
		}
		ch <- prometheus.MustNewConstHistogram(descStepDuration, count, sum, buckets)
	})
}
