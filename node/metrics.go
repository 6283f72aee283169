package node

import (
	"fmt"
	"net/http"
	"sync"

	gometrics "github.com/armon/go-metrics"
	promsink "github.com/armon/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	metricsOnce    sync.Once
	metricsHandler http.Handler
	metricsErr     error
)

// MetricsHandler returns the Prometheus handler of this process. Raft and
// the agent report through go-metrics (the library hashicorp/raft uses); a
// Prometheus sink turns those into Prometheus series beside the Go runtime's
// own. The global sink is set up once per process.
func MetricsHandler() (http.Handler, error) {
	metricsOnce.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
		sink, err := promsink.NewPrometheusSinkFrom(promsink.PrometheusOpts{Registerer: reg, Name: "baton_go_metrics"})
		if err != nil {
			metricsErr = fmt.Errorf("metrics sink: %w", err)
			return
		}
		cfg := gometrics.DefaultConfig("baton")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false
		if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
			metricsErr = fmt.Errorf("metrics: %w", err)
			return
		}
		metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	return metricsHandler, metricsErr
}
