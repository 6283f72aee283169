package fsm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Each value over a limit is refused by the state machine from
// LimitsProtocol on, with an error that names the field and the limit, and
// the refused command changes nothing but the index. Below that protocol
// the same command applies as it did before the limits, so a log written
// by an older build replays the same on every build.
func TestLimitsAreTheStateMachinesFromLimitsProtocol(t *testing.T) {
	bigLabel := member("n4", "7004", "8004")
	bigLabel.Protocol = ProtocolRange{Min: 1, Max: LimitsProtocol}
	bigLabel.Labels = map[string]string{"rack": strings.Repeat("x", 900<<10)}
	manyLabels := bigLabel
	manyLabels.Labels = map[string]string{}
	for i := range MaxLabels + 1 {
		manyLabels.Labels[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name string
		typ  CommandType
		body any
		want string
	}{
		{"200 KB target version", CmdTxnStart, TxnStart{Txn: plan(func(tx *Txn) { tx.TargetVersion = "2.0.0-" + strings.Repeat("a", 200<<10) })},
			"version of 204806 bytes: want at most 128"},
		{"step timeout of 99999h", CmdTxnStart, TxnStart{Txn: plan(func(tx *Txn) { tx.StepTimeout = Duration(99999 * time.Hour) })},
			"step_timeout 99999h0m0s: want a positive duration of at most 168h0m0s (7 days)"},
		{"progress deadline of 8 days", CmdTxnStart, TxnStart{Txn: plan(func(tx *Txn) { tx.ProgressDeadline = Duration(8 * 24 * time.Hour) })},
			"progress_deadline 192h0m0s: want a positive duration of at most 168h0m0s (7 days)"},
		{"file: artifact", CmdTxnStart, TxnStart{Txn: plan(func(tx *Txn) { tx.ArtifactURL, tx.ArtifactSHA256 = "file:///etc/shadow", digest })},
			`artifact URL "file:///etc/shadow": scheme "file" is not allowed: want http or https`},
		{"relative artifact", CmdTxnStart, TxnStart{Txn: plan(func(tx *Txn) { tx.ArtifactURL, tx.ArtifactSHA256 = "etc/shadow", digest })},
			`artifact URL "etc/shadow": want an absolute http or https URL with a host`},
		{"900 KB label", CmdMemberJoin, MemberJoin{Member: bigLabel}, `label "rack": value of 921600 bytes: want at most 256`},
		{"65 labels", CmdMemberJoin, MemberJoin{Member: manyLabels}, "65 labels: want at most 64"},
		{"200 KB build version", CmdMemberStatus, MemberStatus{ID: "n1", Build: BuildInfo{Version: "2.0.0-" + strings.Repeat("a", 200<<10),
			Protocol: ProtocolRange{Min: 1, Max: 3}}}, "version of 204806 bytes: want at most 128"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScene(t)
			sc.s.ProtocolVersion = LimitsProtocol
			before := sc.s.Clone()
			err := sc.apply(tc.typ, tc.body)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tc.want)
			require.Less(t, len(err.Error()), 300, "the error does not echo the value")
			before.Index = sc.s.Index
			require.Equal(t, before, sc.s, "a refused command changes nothing but the index")

			old := newScene(t)
			old.s.ProtocolVersion = LimitsProtocol - 1
			require.NoError(t, old.apply(tc.typ, tc.body), "below protocol %d the command applies as before", LimitsProtocol)
		})
	}
}

func TestValidatorsNameTheFieldAndTheLimit(t *testing.T) {
	require.NoError(t, ValidateVersion("2.1.0-rc.1"))
	require.NoError(t, ValidateVersion("1."+strings.Repeat("1", MaxVersionLen-2)))
	require.EqualError(t, ValidateVersion("1."+strings.Repeat("1", MaxVersionLen-1)), "invalid: version of 129 bytes: want at most 128")
	require.NoError(t, ValidateLabels(map[string]string{"rack": strings.Repeat("x", MaxLabelValueLen)}))
	require.NoError(t, ValidateArtifactURL("https://example.com/b.tgz", false))
	require.NoError(t, ValidateArtifactURL("http://example.com/b.tgz", true))
	require.EqualError(t, ValidateArtifactURL("http://example.com/b.tgz", false),
		`invalid: artifact URL "http://example.com/b.tgz": scheme "http" is not allowed: want https`)
	require.EqualError(t, ValidateArtifactURL("/etc/shadow", true),
		`invalid: artifact URL "/etc/shadow": want an absolute http or https URL with a host`)
	require.EqualError(t, ValidateArtifactURL("gopher://example.com/b", true),
		`invalid: artifact URL "gopher://example.com/b": scheme "gopher" is not allowed: want http or https`)
	require.NoError(t, ValidateDuration("step_timeout", MaxDuration))
	require.EqualError(t, ValidateDuration("step_timeout", MaxDuration+1), "invalid: step_timeout 168h0m0.000000001s: want a positive duration of at most 168h0m0s (7 days)")
}

// A refused value of any size is quoted at most 64 bytes long.
func TestRefusalsDoNotEchoLongValues(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	for name, err := range map[string]error{
		"id":         ValidateID(long),
		"txn id":     ValidateTxnID("../" + long),
		"sha256":     ValidateSHA256(long),
		"on-failure": ValidateOnFailure(long),
		"addr":       ValidateAddr("raft_addr", long),
		"version":    validateVersion("v?"+long, false),
		"url":        ValidateArtifactURL("ftp://"+long[:1000], true),
	} {
		require.ErrorIs(t, err, ErrInvalid, name)
		require.Less(t, len(err.Error()), 300, name)
	}
}
