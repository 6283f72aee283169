package build

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/stretchr/testify/require"
)

// An unstamped build speaks the newest protocol its source implements, and
// the one before it, as `make baton` stamps a release.
func TestDefaultsSpeakTheLatestProtocol(t *testing.T) {
	p, err := Protocol()
	require.NoError(t, err)
	require.Equal(t, fsm.ProtocolRange{Min: fsm.LatestProtocol - 1, Max: fsm.LatestProtocol}, p)
}

// `make baton` stamps the same newest protocol by default.
func TestMakefileStampsTheLatestProtocol(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^PROTOCOL \?= (\d+)$`).FindSubmatch(b)
	require.NotNil(t, m, "the Makefile sets no default PROTOCOL")
	require.Equal(t, strconv.Itoa(fsm.LatestProtocol), string(m[1]))
}
