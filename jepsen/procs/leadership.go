package procs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"sort"
	"time"
)

// killedMessage marks, in an agent's log, the moment the harness killed it.
const killedMessage = "killed by the test harness"

// startMarker begins the line Agent.Launch writes before each process.
const startMarker = "==== start "

// Tenure is a span of time during which one agent led.
type Tenure struct {
	Node       string
	From, Till time.Time // Till is zero while it still leads
}

// Tenures reads every agent's log for "leadership gained" and "leadership
// lost" (and kills by the harness) and returns the spans of leadership.
func (c *Cluster) Tenures() ([]Tenure, error) {
	var out []Tenure
	for _, a := range c.Agents {
		ts, err := tenuresFromLog(a.ID, a.LogPath)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out, nil
}

func tenuresFromLog(id, path string) ([]Tenure, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out  []Tenure
		open *Tenure
		last time.Time // the latest time the running process logged
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte(startMarker)) {
			// A new process: the previous one has ended, and its leadership
			// with it, even if it exited without logging the loss (a clean
			// stop of a leader does not). It ended after its last line.
			if open != nil {
				open.Till, open = last, nil
			}
			continue
		}
		var line struct {
			Msg       string `json:"@message"`
			At        string `json:"at"`
			Timestamp string `json:"@timestamp"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, line.Timestamp); err == nil {
			last = ts
		}
		if line.At == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, line.At)
		if err != nil {
			continue
		}
		last = at
		switch line.Msg {
		case "leadership gained":
			if open == nil {
				out = append(out, Tenure{Node: id, From: at})
				open = &out[len(out)-1]
			}
		case "leadership lost", killedMessage:
			if open != nil {
				open.Till = at
				open = nil
			}
		}
	}
	return out, sc.Err()
}

// LeaderAt returns the nodes whose tenure covers t.
func LeaderAt(tenures []Tenure, node string, t time.Time) bool {
	for _, tn := range tenures {
		if tn.Node == node && !t.Before(tn.From) && (tn.Till.IsZero() || t.Before(tn.Till)) {
			return true
		}
	}
	return false
}
