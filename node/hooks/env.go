package hooks

import "strconv"

// StepEnv is what a hook is told about the step it runs for. Each field
// becomes one BATON_* environment variable (see CLI.md, "The agent").
type StepEnv struct {
	NodeID          string
	TxnID           string
	Attempt         uint64
	TargetVersion   string
	FromVersion     string
	ArtifactURL     string
	ArtifactSHA256  string
	ArtifactPath    string // the downloaded, verified artifact; "" when none
	ProtocolVersion int
}

// Env returns the BATON_* variables for vars as KEY=value strings. Every
// variable is always present, empty when unknown, so a hook can rely on
// `set -u`.
func Env(vars StepEnv) []string {
	return []string{
		"BATON_NODE_ID=" + vars.NodeID,
		"BATON_TXN_ID=" + vars.TxnID,
		"BATON_ATTEMPT=" + strconv.FormatUint(vars.Attempt, 10),
		"BATON_TARGET_VERSION=" + vars.TargetVersion,
		"BATON_FROM_VERSION=" + vars.FromVersion,
		"BATON_ARTIFACT_URL=" + vars.ArtifactURL,
		"BATON_ARTIFACT_SHA256=" + vars.ArtifactSHA256,
		"BATON_ARTIFACT_PATH=" + vars.ArtifactPath,
		"BATON_PROTOCOL_VERSION=" + strconv.Itoa(vars.ProtocolVersion),
	}
}
