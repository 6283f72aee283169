package harness

import (
	"bufio"
	"encoding/json"
	"os"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Acks reads, from every agent's log, the completion notices the leader
// acknowledged to that agent.
func (c *Cluster) Acks() ([]checker.NoticeAck, error) { return AcksFromLogs(c.LogPaths()) }

// AcksFromLogs reads the acknowledged completion notices from agents' logs
// (node id -> log path).
func AcksFromLogs(logs map[string]string) ([]checker.NoticeAck, error) {
	var out []checker.NoticeAck
	for id, path := range logs {
		acks, err := acksFromLog(id, path)
		if err != nil {
			return nil, err
		}
		out = append(out, acks...)
	}
	return out, nil
}

func acksFromLog(id, path string) ([]checker.NoticeAck, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []checker.NoticeAck
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string        `json:"@message"`
			At      string        `json:"@timestamp"`
			Txn     string        `json:"txn"`
			Attempt uint64        `json:"attempt"`
			State   api.StepState `json:"state"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "completion notice acknowledged" {
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, line.At)
		out = append(out, checker.NoticeAck{Node: id, Txn: line.Txn, Attempt: line.Attempt, State: line.State, At: at})
	}
	return out, sc.Err()
}
