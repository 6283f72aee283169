package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// EnsureAnsible makes sure ansible-playbook is installed, installing
// Debian's ansible package with apt-get when it is missing (which needs
// root). It reports whether it installed it, and the version found.
func EnsureAnsible(ctx context.Context, log io.Writer) (installed bool, version string, err error) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		if os.Geteuid() != 0 {
			return false, "", fmt.Errorf("ansible-playbook is not installed and this run is not root: run `apt-get install -y ansible`")
		}
		fmt.Fprintln(log, "    ansible-playbook missing: apt-get install -y ansible (Debian's package)")
		if err := aptInstall(ctx, log); err != nil {
			return false, "", err
		}
		installed = true
	}
	out, err := exec.CommandContext(ctx, "ansible-playbook", "--version").Output()
	if err != nil {
		return installed, "", fmt.Errorf("ansible-playbook --version: %w", err)
	}
	version, _, _ = strings.Cut(string(out), "\n")
	return installed, strings.TrimSpace(version), nil
}

// aptInstall installs the ansible package, refreshing the package lists
// first when apt does not know the package yet.
func aptInstall(ctx context.Context, log io.Writer) error {
	install := func() error {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "ansible")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err != nil {
			fmt.Fprintf(log, "%s\n", tailLines(out.String(), 5))
		}
		return err
	}
	if install() == nil {
		return nil
	}
	fmt.Fprintln(log, "    apt-get update, then install again")
	if err := exec.CommandContext(ctx, "apt-get", "update", "-q").Run(); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	if err := install(); err != nil {
		return fmt.Errorf("apt-get install -y ansible: %w", err)
	}
	return nil
}

// playbook rolls the same no-op hooks as the Baton clusters over every
// host of the inventory, one host at a time, and checks the version the
// way a Baton step does.
const playbook = `- hosts: fleet
  serial: 1
  gather_facts: false
  vars:
    target_version: "2.0.0"
  tasks:
    - name: drain
      ansible.builtin.shell: "true"
    - name: install
      ansible.builtin.shell: "true"
    - name: restart
      ansible.builtin.shell: "true"
    - name: health
      ansible.builtin.shell: "true"
    - name: version
      ansible.builtin.shell: 'echo "{{ target_version }}"'
      register: version
      failed_when: version.stdout != target_version
`

// Ansible times `runs` runs of ansible-playbook rolling the no-op hooks
// over hosts local hosts (connection: local, serial: 1, the defaults
// otherwise), and returns the time per host of each run.
func Ansible(ctx context.Context, dir string, hosts, runs int) ([]time.Duration, error) {
	var inv strings.Builder
	inv.WriteString("[fleet]\n")
	for i := 1; i <= hosts; i++ {
		fmt.Fprintf(&inv, "h%d ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n", i)
	}
	files := map[string]string{"inventory.ini": inv.String(), "rollout.yml": playbook, "ansible.cfg": "[defaults]\nretry_files_enabled = False\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	env := append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"), "ANSIBLE_HOME="+filepath.Join(dir, "home"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(dir, "rtmp"), "ANSIBLE_NOCOLOR=1")
	var out []time.Duration
	for range runs {
		cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", "inventory.ini", "rollout.yml")
		cmd.Dir, cmd.Env = dir, env
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return out, fmt.Errorf("ansible-playbook: %w: %s", err, tailLines(buf.String(), 8))
		}
		out = append(out, time.Since(start)/time.Duration(hosts))
	}
	return out, nil
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
