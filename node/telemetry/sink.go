package telemetry

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Sink is a go-metrics sink that keeps what hashicorp/raft, raft-boltdb and
// Baton report, and serves it as a prometheus.Collector under Prometheus's
// conventions: snake_case names with the baton_ prefix, counters ending in
// _total, durations as histograms in seconds (never summaries, whose
// quantiles are NaN while nothing happens), and label values (peer ids)
// as labels, never as parts of a name.
//
// Its methods are safe for concurrent use; a series exists from the first
// value it is given.
type Sink struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewSink returns an empty sink.
func NewSink() *Sink { return &Sink{families: map[string]*family{}} }

var _ gometrics.MetricSink = (*Sink)(nil)

type kind int

const (
	kindGauge kind = iota
	kindCounter
	kindHistogram
)

// family is one metric name and its series, by label values.
type family struct {
	name, help string
	kind       kind
	scale      float64 // a sample's value times scale is in the unit of name
	labels     []string
	series     map[string]*series
}

type series struct {
	values []string
	value  float64  // gauge or counter
	counts []uint64 // histogram: per bucket, not cumulative
	sum    float64  // histogram
	count  uint64   // histogram
}

// DurationBuckets are the histogram buckets of durations, in seconds: from
// half a millisecond (a commit on loopback) to a minute (a hook).
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// ratioBuckets are the buckets of shares between 0 and 1.
var ratioBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1}

// sizeBuckets are the buckets of samples that are counts or sizes.
var sizeBuckets = prometheus.ExponentialBuckets(1, 4, 12)

// SetGauge implements go-metrics.
func (s *Sink) SetGauge(key []string, val float32) { s.SetGaugeWithLabels(key, val, nil) }

// SetGaugeWithLabels implements go-metrics.
func (s *Sink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.record(kindGauge, key, labels, func(f *family, sr *series) { sr.value = float64(val) * f.scale })
}

// EmitKey implements go-metrics; nothing Baton uses emits keys, and a key
// without a kind has no Prometheus form, so it is dropped.
func (s *Sink) EmitKey([]string, float32) {}

// IncrCounter implements go-metrics.
func (s *Sink) IncrCounter(key []string, val float32) { s.IncrCounterWithLabels(key, val, nil) }

// IncrCounterWithLabels implements go-metrics.
func (s *Sink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.record(kindCounter, key, labels, func(f *family, sr *series) { sr.value += float64(val) })
}

// AddSample implements go-metrics.
func (s *Sink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

// AddSampleWithLabels implements go-metrics: samples go to a histogram.
func (s *Sink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	s.record(kindHistogram, key, labels, func(f *family, sr *series) {
		v := float64(val) * f.scale
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		b := bucketsOf(f)
		if sr.counts == nil {
			sr.counts = make([]uint64, len(b))
		}
		if i, _ := slices.BinarySearch(b, v); i < len(b) {
			sr.counts[i]++
		}
		sr.sum += v
		sr.count++
	})
}

func (s *Sink) record(k kind, key []string, labels []gometrics.Label, update func(*family, *series)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := nameOf(k, key)
	f := s.families[m.name]
	if f == nil {
		f = &family{name: m.name, kind: k, scale: m.scale, series: map[string]*series{},
			help: fmt.Sprintf("go-metrics key %s%s.", strings.Join(key, "."), m.unitHelp)}
		s.families[m.name] = f
	}
	if f.kind != k {
		return // one name, two kinds: keep the first, as Prometheus would refuse both
	}
	values := f.valuesFor(labels)
	id := strings.Join(values, "\xff")
	sr := f.series[id]
	if sr == nil {
		sr = &series{values: values}
		f.series[id] = sr
	}
	update(f, sr)
}

// valuesFor orders a measurement's label values by the family's label
// names, adding names the family has not seen (earlier series get "").
func (f *family) valuesFor(labels []gometrics.Label) []string {
	for _, l := range labels {
		n := snake(l.Name)
		if !slices.Contains(f.labels, n) {
			f.labels = append(f.labels, n)
			for _, sr := range f.series {
				sr.values = append(sr.values, "")
			}
		}
	}
	values := make([]string, len(f.labels))
	for _, l := range labels {
		values[slices.Index(f.labels, snake(l.Name))] = l.Value
	}
	return values
}

func bucketsOf(f *family) []float64 {
	switch {
	case strings.HasSuffix(f.name, "_seconds"):
		return DurationBuckets
	case strings.HasSuffix(f.name, "_ratio"):
		return ratioBuckets
	}
	return sizeBuckets
}

// Describe implements prometheus.Collector. The sink's series come and go
// with what is measured, so it describes nothing ahead (an unchecked
// collector).
func (s *Sink) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.families {
		desc := prometheus.NewDesc(f.name, f.help, f.labels, nil)
		for _, sr := range f.series {
			switch f.kind {
			case kindGauge:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, sr.value, sr.values...)
			case kindCounter:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, sr.value, sr.values...)
			case kindHistogram:
				b := bucketsOf(f)
				cum := make(map[float64]uint64, len(b))
				var n uint64
				for i, le := range b {
					n += sr.counts[i]
					cum[le] = n
				}
				ch <- prometheus.MustNewConstHistogram(desc, sr.count, sr.sum, cum, sr.values...)
			}
		}
	}
}

// metricName is a go-metrics key's Prometheus form.
type metricName struct {
	name     string
	scale    float64
	unitHelp string
}

// units names what a sample or gauge measures where it is not a duration
// in milliseconds, go-metrics' unit for timings; keyed by the key without
// the service prefix.
var units = map[string]string{
	"raft.fsm.applyBatchNum":      "",
	"raft.boltdb.logBatchSize":    "bytes",
	"raft.boltdb.logSize":         "bytes",
	"raft.boltdb.logsPerBatch":    "",
	"raft.boltdb.writeCapacity":   "logs_per_second",
	"raft.commitNumLogs":          "",
	"raft.leader.dispatchNumLogs": "",
	"raft.peers":                  "",
}

// nameOf maps a go-metrics key ("baton", "raft", "commitTime") to its
// Prometheus name and unit.
func nameOf(k kind, key []string) metricName {
	parts := key
	if len(parts) > 0 && parts[0] == "baton" {
		parts = parts[1:]
	}
	dotted := strings.Join(parts, ".")
	words := make([]string, 0, len(parts))
	for _, p := range parts {
		words = append(words, snake(p))
	}
	name := "baton_" + strings.Join(words, "_")
	unit, known := units[dotted]
	switch {
	case k == kindCounter:
		name = strings.TrimSuffix(name, "_total") + "_total"
		return metricName{name: name, scale: 1}
	case strings.HasSuffix(dotted, "saturation"):
		return metricName{name: name + "_ratio", scale: 1}
	case known && unit != "":
		return metricName{name: name + "_" + unit, scale: 1}
	case known:
		return metricName{name: name, scale: 1}
	case k == kindHistogram || strings.HasSuffix(dotted, "Duration") || strings.HasSuffix(dotted, "Age"):
		// go-metrics times in milliseconds; Prometheus wants seconds.
		name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_time"), "_duration"), "_age")
		suffix := "_seconds"
		if strings.HasSuffix(dotted, "Age") {
			suffix = "_age_seconds"
		}
		return metricName{name: name + suffix, scale: 1.0 / 1000, unitHelp: " (reported in milliseconds)"}
	}
	return metricName{name: name, scale: 1}
}

// snake turns "appendEntries" or "heartbeat_timeout" into snake_case.
func snake(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		case r == '-' || r == '.' || r == ' ':
			b.WriteByte('_')
			prevLower = false
		default:
			b.WriteRune(r)
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		}
	}
	return b.String()
}
