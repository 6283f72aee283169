package bench

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a run took place.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	OS        string  `json:"os"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
	DataDir   string  `json:"data_dir"`
	DataDisk  string  `json:"data_disk"`
	// LoadStart and LoadEnd are the one-minute load averages when the run
	// began and ended: other work on the machine shows up in every figure.
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

// loadAverage reads the one-, five- and fifteen-minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// DescribeMachine reads /proc and /etc for the machine's description; what
// it cannot read stays empty. dataDir is where the benchmarks keep their
// data: its disk is the one whose fsync latency is measured.
func DescribeMachine(dataDir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), DataDir: dataDir}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil {
		m.MemoryGiB = kb / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`)
	m.DataDisk = diskOf(dataDir)
	m.LoadStart = loadAverage()
	return m
}

// procField returns the value of the first "key: value" or "key=value"
// line of a /proc or /etc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, sep := range []string{":", "="} {
			k, v, ok := strings.Cut(line, sep)
			if ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// diskOf names the device and file system holding dir, from the longest
// mount point of /proc/self/mounts that contains it.
func diskOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	best, desc := -1, ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		if (abs == mnt || strings.HasPrefix(abs, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) > best {
			best, desc = len(mnt), f[0]+" ("+f[2]+", mounted on "+mnt+")"
		}
	}
	return desc
}
