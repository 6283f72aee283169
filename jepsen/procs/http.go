package procs

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

var checkClient = &http.Client{Timeout: 5 * time.Second}

// healthThrough asks GET /health of addr and wants 200.
func healthThrough(addr string) error {
	resp, err := checkClient.Get("http://" + addr + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", addr, resp.Status)
	}
	return nil
}

// Get reads url and returns its body; an answer other than 200 is an
// error.
func Get(url string) (string, error) {
	resp, err := checkClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return string(b), nil
}
