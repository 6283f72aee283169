package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/baton-upgrade/baton/rpc/api"
)

// The VERSION column of `baton members` never passes an unknown version off
// as a known one, and says why it is unknown.
func TestMemberVersionColumn(t *testing.T) {
	require.Equal(t, "1.0.0", memberVersion(api.Member{Version: "1.0.0"}))
	require.Equal(t, "unknown (version hook failed: exited 4: no such file)",
		memberVersion(api.Member{VersionError: "version hook failed: exited 4: no such file"}))
	require.Equal(t, "1.0.0 (version hook failed: exited 4: no such file)",
		memberVersion(api.Member{Version: "1.0.0", VersionError: "version hook failed: exited 4: no such file"}),
		"the last version known, with the reason it may be stale")
	require.Equal(t, "unknown", memberVersion(api.Member{}))
	require.Equal(t, "unknown (version hook failed: line one line two)",
		memberVersion(api.Member{VersionError: "version hook failed: line one\nline two"}), "one line per member")
}
