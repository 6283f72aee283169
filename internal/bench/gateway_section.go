package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// SecGateway is the section of client requests through a ring upgrade.
const SecGateway = "gateway"

func (s *suite) gateway(ctx context.Context) {
	s.section(SecGateway, "8. Clients through a ring upgrade: Baton's gateway and HAProxy",
		"Five toy HTTP services (`demosvc`), a `baton agent` beside each (default Raft timings) and `baton gateway` in "+
			"front of them, following the cluster and registered with it; then Debian's `haproxy` in front of the same "+
			"five, driven by the ring through examples/haproxy/haproxy-hook.sh (drain: state drain, no session left, "+
			"maint; health: ready, wait for UP), `retries 3`, `option redispatch 1`, `balance leastconn`. Latency: one "+
			"GET at a time on a kept-alive connection, in rounds of one request to a node directly (the five in turn), "+
			"one through the gateway and one through HAProxy, so the three saw the same machine; after 50 rounds of "+
			"warm-up. What a front adds is its statistic minus the same statistic of the direct requests. Upgrades: "+
			"a client load of GETs and POSTs alternating (each POST with its own body), paced, 32 in flight at most, "+
			"through a ring upgrade of the five nodes (one at a time, never two ring neighbours), each step's restart "+
			"stopping the service for 0.4 s; the load starts a second before the transaction and ends a second after "+
			"it. A request failed when it got no 2xx answer. The gateway's upgrade runs first (to 2.0.0), HAProxy's "+
			"second (to 3.0.0), with the gateway stopped.")
	rate, latency := 250, 3000
	if s.cfg.Quick {
		latency = 300
	}
	bin, err := procs.Build(s.dir("gateway-build"), procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
	var demosvc string
	if err == nil {
		demosvc, err = procs.BuildDemosvc(s.dir("gateway-build"))
	}
	if err != nil {
		s.add(FailedRow(SecGateway, "requests through Baton's gateway during a ring upgrade", "requests", nil, err))
		return
	}
	haproxy, lookErr := exec.LookPath("haproxy")
	var res GatewayResult
	err = Measure(s.dir("gateway"), s.cfg.Log, func(t *T) {
		res = GatewayUnderUpgrade(t, GatewayOptions{Bin: bin, Demosvc: demosvc, HAProxy: haproxy, Nodes: 5, Rate: rate, Latency: latency})
	})
	if err != nil {
		s.add(FailedRow(SecGateway, "requests through Baton's gateway during a ring upgrade", "requests", nil, err))
		return
	}
	s.upgradeRows("Baton's gateway", res.GatewayUpgrade, rate)
	switch {
	case lookErr != nil:
		s.add(FailedRow(SecGateway, "requests through HAProxy during a ring upgrade", "requests", nil,
			fmt.Errorf("haproxy not found: install Debian's haproxy package (%v)", lookErr)))
	case res.HAProxyErr != "":
		s.add(FailedRow(SecGateway, "requests through HAProxy during a ring upgrade", "requests", nil, fmt.Errorf("%s", res.HAProxyErr)))
	default:
		s.upgradeRows("HAProxy", res.HAProxyUpgrade, rate)
	}
	direct := s.sample(SecGateway, "latency of a GET directly to a node", res.Direct, nil, nil, "")
	s.frontRows("Baton's gateway", res.Gateway, direct)
	if len(res.HAProxy) > 0 {
		s.frontRows("HAProxy", res.HAProxy, direct)
	}
}

// upgradeRows are the rows of one load through an upgrade.
func (s *suite) upgradeRows(front string, u UpgradeLoad, rate int) {
	name := fmt.Sprintf("client requests through %s during a ring upgrade of 5 nodes", front)
	s.add(NewRow(SecGateway, name, "requests", []float64{float64(u.Requests)}, nil,
		fmt.Sprintf("%d a second asked, %s a second sent over %s s", rate, num(float64(u.Requests)/u.Seconds), num(u.Seconds))))
	success := 100 * float64(u.Requests-u.Failed) / float64(max(u.Requests, 1))
	note := fmt.Sprintf("success rate %.3f %%", success)
	if len(u.Errors) > 0 {
		note += "; first failures: " + strings.Join(u.Errors, "; ")
	}
	s.add(NewRow(SecGateway, "  failed, "+front, "requests", []float64{float64(u.Failed)}, &Target{Stat: "max", Op: "<=", Value: 0}, note))
}

// frontRows are the latency rows of one front, and what it adds to the
// direct requests.
func (s *suite) frontRows(front string, ds []time.Duration, direct Summary) {
	via := s.sample(SecGateway, "latency of a GET through "+front, ds, nil, nil, "")
	s.add(NewRow(SecGateway, "  added by "+front+", at the median", "ms", []float64{via.Median - direct.Median}, nil, ""))
	target := &Target{Stat: "p99", Op: "<", Value: 1}
	added := via.P99 - direct.P99
	note := ""
	if !target.Met(Summary{N: 1, P99: added}) {
		note = fmt.Sprintf("the tail is the machine's: the direct requests' own p99 is %s ms against a median of %s ms "+
			"(load average %s at the start, on %d cores shared with other work); compare the fronts with each other",
			num(direct.P99), num(direct.Median), s.r.Machine.LoadStart, s.r.Machine.Cores)
	}
	s.add(NewRow(SecGateway, "  added by "+front+", at p99", "ms", []float64{added}, target, note))
}
