package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDurationReadsAndWritesAsAString(t *testing.T) {
	b, err := json.Marshal(Duration(90 * time.Second))
	require.NoError(t, err)
	require.Equal(t, `"1m30s"`, string(b))
	var d Duration
	require.NoError(t, json.Unmarshal([]byte(`"5m"`), &d))
	require.Equal(t, Duration(5*time.Minute), d)
	require.Error(t, json.Unmarshal([]byte(`300`), &d))
	require.Error(t, json.Unmarshal([]byte(`"soon"`), &d))
}

func TestTxnHelpers(t *testing.T) {
	txn := Txn{Steps: []Step{
		{Node: "n2", Batch: 0, State: StepDone},
		{Node: "n3", Batch: 1, State: StepRunning},
		{Node: "n1", Batch: 2, State: StepPending},
	}}
	require.Equal(t, StepRunning, txn.Step("n3").State)
	require.Nil(t, txn.Step("n9"))
	require.Equal(t, 1, txn.Count(StepDone))
	require.Equal(t, 3, txn.Batches())
	require.Equal(t, 1, txn.CurrentBatch())
	for i := range txn.Steps {
		txn.Steps[i].State = StepDone
	}
	require.Equal(t, -1, txn.CurrentBatch())
	require.Zero(t, (&Txn{}).Batches())
}

func TestTxnStates(t *testing.T) {
	for s, want := range map[TxnState][2]bool{ // terminal, active
		TxnRunning: {false, true}, TxnPaused: {false, true}, TxnFailed: {false, true}, TxnFinalizing: {false, true},
		TxnAborting: {false, true}, TxnDone: {true, false}, TxnAborted: {true, false},
	} {
		require.Equal(t, want[0], s.Terminal(), s)
		require.Equal(t, want[1], s.Active(), s)
	}
}
