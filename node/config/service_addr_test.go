package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServiceAddrIsReadFromJSONAndHCL(t *testing.T) {
	cfg, err := Load(writeFile(t, "agent.json", `{"service_addr": "10.0.0.5:8080", "upgrade": {"install": "i"}}`))
	require.NoError(t, err)
	require.Equal(t, "10.0.0.5:8080", cfg.ServiceAddr)
	cfg, err = Load(writeFile(t, "agent.hcl", "service_addr = \"db1.example:5432\"\n"))
	require.NoError(t, err)
	require.Equal(t, "db1.example:5432", cfg.ServiceAddr)
	cfg, err = Load(writeFile(t, "agent.json", `{}`))
	require.NoError(t, err)
	require.Empty(t, cfg.ServiceAddr, "service_addr is optional")
}

func TestBadServiceAddrIsRefusedByName(t *testing.T) {
	for _, bad := range []string{"8080", "host", ":8080", "host:0", "host:65536", "host:http"} {
		_, err := Load(writeFile(t, "agent.json", `{"service_addr": "`+bad+`"}`))
		require.Error(t, err, bad)
		require.ErrorContains(t, err, `service_addr = "`+bad+`"`)
	}
}
