package node

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// idleMeter estimates the idle CPU and memory shares of this machine (S4's
// idle weight) from /proc. CPU idleness is measured between two calls, so
// a probe costs no waiting; where /proc is missing it reports 0.
type idleMeter struct {
	mu              sync.Mutex
	lastIdle, total uint64
}

func (m *idleMeter) sample() (cpu, mem float64) {
	return m.cpu(), memIdle()
}

func (m *idleMeter) cpu() float64 {
	idle, total, ok := readCPU()
	if !ok {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dIdle, dTotal := idle-m.lastIdle, total-m.total
	m.lastIdle, m.total = idle, total
	if dTotal == 0 {
		return 0
	}
	return float64(dIdle) / float64(dTotal)
}

// readCPU returns the idle and total jiffies of the first line of
// /proc/stat.
func readCPU() (idle, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 3 || i == 4 { // idle and iowait
			idle += v
		}
	}
	return idle, total, true
}

// memIdle is MemAvailable / MemTotal from /proc/meminfo.
func memIdle() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var avail, total float64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			avail = v
		}
	}
	if total == 0 {
		return 0
	}
	return avail / total
}
