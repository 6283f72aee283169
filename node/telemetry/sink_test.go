package telemetry

import (
	"strings"
	"testing"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestNamesFollowPrometheusConventions(t *testing.T) {
	for _, tc := range []struct {
		kind kind
		key  []string
		want string
	}{
		{kindHistogram, []string{"baton", "raft", "commitTime"}, "baton_raft_commit_seconds"},
		{kindHistogram, []string{"baton", "raft", "replication", "appendEntries", "rpc"}, "baton_raft_replication_append_entries_rpc_seconds"},
		{kindCounter, []string{"baton", "raft", "apply"}, "baton_raft_apply_total"},
		{kindCounter, []string{"baton", "raft", "transition", "heartbeat_timeout"}, "baton_raft_transition_heartbeat_timeout_total"},
		{kindGauge, []string{"baton", "agent", "leader"}, "baton_agent_leader"},
		{kindGauge, []string{"baton", "raft", "fsm", "lastRestoreDuration"}, "baton_raft_fsm_last_restore_seconds"},
		{kindGauge, []string{"baton", "raft", "logstore", "oldestLogAge"}, "baton_raft_logstore_oldest_log_age_seconds"},
		{kindHistogram, []string{"baton", "raft", "boltdb", "logSize"}, "baton_raft_boltdb_log_size_bytes"},
		{kindHistogram, []string{"baton", "raft", "fsm", "applyBatchNum"}, "baton_raft_fsm_apply_batch_num"},
		{kindHistogram, []string{"baton", "raft", "thread", "main", "saturation"}, "baton_raft_thread_main_saturation_ratio"},
	} {
		require.Equal(t, tc.want, nameOf(tc.kind, tc.key).name, "%v", tc.key)
	}
}

func TestSinkServesLabelsHistogramsAndTotals(t *testing.T) {
	s := NewSink()
	s.AddSampleWithLabels([]string{"baton", "raft", "replication", "heartbeat"}, 2, []gometrics.Label{{Name: "peer_id", Value: "n2"}})
	s.AddSampleWithLabels([]string{"baton", "raft", "replication", "heartbeat"}, 40, []gometrics.Label{{Name: "peer_id", Value: "n3"}})
	s.IncrCounter([]string{"baton", "raft", "apply"}, 1)
	s.IncrCounter([]string{"baton", "raft", "apply"}, 2)
	s.SetGauge([]string{"baton", "agent", "leader"}, 1)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(s))
	expected := `
# HELP baton_agent_leader go-metrics key baton.agent.leader.
# TYPE baton_agent_leader gauge
baton_agent_leader 1
# HELP baton_raft_apply_total go-metrics key baton.raft.apply.
# TYPE baton_raft_apply_total counter
baton_raft_apply_total 3
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "baton_agent_leader", "baton_raft_apply_total"))

	families, err := reg.Gather()
	require.NoError(t, err)
	var found bool
	for _, mf := range families {
		if mf.GetName() != "baton_raft_replication_heartbeat_seconds" {
			continue
		}
		found = true
		require.Len(t, mf.GetMetric(), 2, "one series a peer, the peer in a label")
		for _, m := range mf.GetMetric() {
			require.Equal(t, "peer_id", m.GetLabel()[0].GetName())
			h := m.GetHistogram()
			require.Equal(t, uint64(1), h.GetSampleCount())
			if m.GetLabel()[0].GetValue() == "n2" {
				require.InDelta(t, 0.002, h.GetSampleSum(), 1e-9, "milliseconds become seconds")
			}
		}
	}
	require.True(t, found)
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"appendEntries": "append_entries", "commitTime": "commit_time",
		"heartbeat_timeout": "heartbeat_timeout", "peer-id": "peer_id", "rpc": "rpc", "installSnapshot": "install_snapshot"} {
		require.Equal(t, want, snake(in))
	}
}
