package procs

import (
	"fmt"
	"net"
	"sync"
)

var (
	portMu   sync.Mutex
	portSeen = map[int]bool{}
)

// FreeAddr returns a loopback HOST:PORT that was free a moment ago and has
// not been handed out before in this process.
func FreeAddr() (string, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !portSeen[port] {
			portSeen[port] = true
			return fmt.Sprintf("127.0.0.1:%d", port), nil
		}
	}
	return "", fmt.Errorf("no free loopback port found")
}
