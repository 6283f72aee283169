package procs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A leader stopped cleanly logs no loss of leadership; its tenure must end
// with its process, not run on into the next one's.
func TestTenureEndsWithItsProcess(t *testing.T) {
	log := `==== start baton agent --id n2
{"@message":"leadership gained","@timestamp":"2030-01-01T12:00:01Z","at":"2030-01-01T12:00:01Z"}
{"@message":"signal received, stopping","@timestamp":"2030-01-01T12:00:05Z"}
==== start baton agent --id n2
{"@message":"agent running","@timestamp":"2030-01-01T12:00:07Z"}
{"@message":"leadership gained","@timestamp":"2030-01-01T12:00:20Z","at":"2030-01-01T12:00:20Z"}
{"@message":"leadership lost","@timestamp":"2030-01-01T12:00:25Z","at":"2030-01-01T12:00:25Z"}
`
	path := filepath.Join(t.TempDir(), "n2.log")
	require.NoError(t, os.WriteFile(path, []byte(log), 0o644))
	tenures, err := tenuresFromLog("n2", path)
	require.NoError(t, err)
	at := func(s int) time.Time { return time.Date(2030, 1, 1, 12, 0, s, 0, time.UTC) }
	require.Equal(t, []Tenure{{Node: "n2", From: at(1), Till: at(5)}, {Node: "n2", From: at(20), Till: at(25)}}, tenures)
	require.True(t, LeaderAt(tenures, "n2", at(3)))
	require.False(t, LeaderAt(tenures, "n2", at(10)), "the new process did not lead at 12:00:10")
}
