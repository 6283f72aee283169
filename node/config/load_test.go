package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestLoadJSON(t *testing.T) {
	path := writeFile(t, "agent.json", `{"upgrade": {"drain": "d", "install": "i", "restart": "r",
               "health": "h", "version": "v", "rollback": "rb",
               "timeout": "90s"},
   "labels": {"zone": "a"}}`)
	cfg, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, File{
		Upgrade: Hooks{Drain: "d", Install: "i", Restart: "r", Health: "h", Version: "v", Rollback: "rb", Timeout: 90 * time.Second},
		Labels:  map[string]string{"zone": "a"},
	}, cfg)
	require.NoError(t, cfg.Upgrade.CanUpgrade())
}

func TestLoadHCL(t *testing.T) {
	path := writeFile(t, "agent.hcl", `
upgrade {
  install = "/usr/local/bin/install.sh"
  version = "cat /etc/app-version"
  timeout = "2m"
}
labels = {
  zone = "b"
  rack = "r7"
}
`)
	cfg, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, "/usr/local/bin/install.sh", cfg.Upgrade.Install)
	require.Equal(t, "cat /etc/app-version", cfg.Upgrade.Version)
	require.Equal(t, 2*time.Minute, cfg.Upgrade.Timeout)
	require.Equal(t, map[string]string{"zone": "b", "rack": "r7"}, cfg.Labels)
}

func TestLoadDefaults(t *testing.T) {
	t.Run("timeout defaults when the upgrade block omits it", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "agent.json", `{"upgrade": {"install": "i", "version": "v"}}`))
		require.NoError(t, err)
		require.Equal(t, DefaultTimeout, cfg.Upgrade.Timeout)
		require.Nil(t, cfg.Labels)
	})
	t.Run("no upgrade block gives zero hooks", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "agent.hcl", `labels = { zone = "c" }`))
		require.NoError(t, err)
		require.Equal(t, Hooks{}, cfg.Upgrade)
		require.Equal(t, DefaultTimeout, cfg.Upgrade.EffectiveTimeout())
		require.ErrorIs(t, cfg.Upgrade.CanUpgrade(), ErrCannotUpgrade)
	})
	t.Run("empty file", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "agent.json", `{}`))
		require.NoError(t, err)
		require.Equal(t, File{}, cfg)
	})
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		body     string
		contains []string
	}{
		{
			name:     "unknown key in upgrade block",
			file:     "agent.json",
			body:     `{"upgrade": {"instal": "make install", "version": "v"}}`,
			contains: []string{"agent.json", `"instal"`, "make install"},
		},
		{
			name:     "unknown top-level key in HCL",
			file:     "agent.hcl",
			body:     "hooks = \"x\"\n",
			contains: []string{"agent.hcl", `"hooks"`, `hooks = "x"`},
		},
		{
			name:     "bad timeout",
			file:     "agent.hcl",
			body:     "upgrade {\n  timeout = \"soon\"\n}\n",
			contains: []string{"agent.hcl", "upgrade.timeout", `"soon"`},
		},
		{
			name:     "negative timeout",
			file:     "agent.json",
			body:     `{"upgrade": {"timeout": "-5s"}}`,
			contains: []string{"agent.json", "upgrade.timeout", `"-5s"`, "positive"},
		},
		{
			name:     "wrong type",
			file:     "agent.json",
			body:     `{"labels": "zone-a"}`,
			contains: []string{"agent.json", "labels"},
		},
		{
			name:     "syntax error",
			file:     "agent.json",
			body:     `{"upgrade": `,
			contains: []string{"agent.json"},
		},
		{
			name:     "bad extension",
			file:     "agent.yaml",
			body:     "upgrade: {}\n",
			contains: []string{"agent.yaml", `".yaml"`, ".json or .hcl"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.file, tt.body))
			require.Error(t, err)
			for _, want := range tt.contains {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.json"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Contains(t, err.Error(), "absent.json")
}

func TestCanUpgradeNamesWhatIsMissing(t *testing.T) {
	err := Hooks{Install: "i"}.CanUpgrade()
	require.ErrorIs(t, err, ErrCannotUpgrade)
	require.Contains(t, err.Error(), "upgrade.version")
	require.NotContains(t, err.Error(), "upgrade.install")

	err = Hooks{}.CanUpgrade()
	require.Contains(t, err.Error(), "upgrade.install and upgrade.version")
}
