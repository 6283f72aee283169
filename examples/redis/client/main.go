// Command client is the Redis demo's client: it writes and reads through a
// whole rolling upgrade and then says what it lost. It keeps one key per
// write (k<i> = v<i>), writes to whichever Redis node says it is the master
// (it asks every node's ROLE again after any error), reads back a random
// acknowledged key after each write, and on SIGTERM or SIGINT checks every
// acknowledged write on the master and prints the tally:
//
//	writes acknowledged, failed requests (errors a request met, each
//	retried), missing reads (an acknowledged key not found while running),
//	lost acknowledged writes (not on the master at the end).
//
// It exits 1 when an acknowledged write was lost. It speaks just enough of
// RESP for SET, GET and ROLE, and imports nothing of Baton's.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	addrs := flag.String("redis", "", "comma-separated HOST:PORT of every Redis node")
	every := flag.Duration("every", 10*time.Millisecond, "pause between writes")
	out := flag.String("out", "", "file to write the tally to as JSON")
	flag.Parse()
	if *addrs == "" {
		fmt.Fprintln(os.Stderr, "client: --redis HOST:PORT[,HOST:PORT...] is required")
		os.Exit(2)
	}
	c := &client{nodes: strings.Split(*addrs, ",")}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	c.run(stop, *every)
	t := c.verify()
	fmt.Printf("client: %d writes acknowledged, %d failed requests, %d missing reads, %d lost acknowledged writes\n",
		t.Acked, t.Failed, t.MissingReads, t.Lost)
	if t.Lost > 0 {
		fmt.Printf("client: lost keys (first ten): %v\n", t.LostKeys)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(t, "", "  ")
		_ = os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	if t.Lost > 0 {
		os.Exit(1)
	}
}

// tally is what the client saw.
type tally struct {
	Acked        int      `json:"acked"`
	Failed       int      `json:"failed_requests"`
	MissingReads int      `json:"missing_reads"`
	Lost         int      `json:"lost_acknowledged_writes"`
	LostKeys     []string `json:"lost_keys,omitempty"`
	Masters      []string `json:"masters"`
}

type client struct {
	nodes  []string
	conn   *conn
	master string
	acked  []int
	t      tally
}

// run writes and reads until stop fires.
func (c *client) run(stop <-chan os.Signal, every time.Duration) {
	for i := 1; ; {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		key, val := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		if _, err := c.do("SET", key, val); err != nil {
			c.failed(err)
			continue // the same write again, once a master answers
		}
		c.acked = append(c.acked, i)
		c.t.Acked++
		i++
		j := c.acked[rand.IntN(len(c.acked))]
		got, err := c.do("GET", fmt.Sprintf("k%d", j))
		switch {
		case err != nil:
			c.failed(err)
		case got != fmt.Sprintf("v%d", j):
			c.t.MissingReads++
			fmt.Printf("client: k%d read %q from %s, want v%d\n", j, got, c.master, j)
		}
	}
}

func (c *client) failed(err error) {
	c.t.Failed++
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	if c.t.Failed <= 20 || c.t.Failed%100 == 0 {
		fmt.Printf("client: request failed (%d so far): %v\n", c.t.Failed, err)
	}
	time.Sleep(50 * time.Millisecond)
}

// do sends one command to the master, finding it first when needed.
func (c *client) do(args ...string) (string, error) {
	if c.conn == nil {
		if err := c.findMaster(); err != nil {
			return "", err
		}
	}
	return c.conn.command(args...)
}

// findMaster asks every node's ROLE and connects to the one that says
// master.
func (c *client) findMaster() error {
	for _, addr := range c.nodes {
		cn, err := dial(addr)
		if err != nil {
			continue
		}
		role, err := cn.command("ROLE")
		if err == nil && role == "master" {
			if addr != c.master {
				fmt.Printf("client: master is now %s\n", addr)
				c.t.Masters = append(c.t.Masters, addr)
			}
			c.conn, c.master = cn, addr
			return nil
		}
		cn.Close()
	}
	return errors.New("no Redis node says it is the master")
}

// verify checks every acknowledged write on the master.
func (c *client) verify() tally {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.conn == nil && c.findMaster() != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		lost := 0
		var keys []string
		var err error
		for _, i := range c.acked {
			var got string
			if got, err = c.conn.command("GET", fmt.Sprintf("k%d", i)); err != nil {
				break
			}
			if got != fmt.Sprintf("v%d", i) {
				lost++
				if len(keys) < 10 {
					keys = append(keys, fmt.Sprintf("k%d", i))
				}
			}
		}
		if err == nil {
			c.t.Lost, c.t.LostKeys = lost, keys
			return c.t
		}
		c.conn.Close()
		c.conn = nil
	}
	c.t.Lost = len(c.acked)
	fmt.Println("client: could not reach a master to verify the writes")
	return c.t
}

// conn is one RESP connection.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: nc, r: bufio.NewReader(nc)}, nil
}

// command sends a command and returns a simple or bulk string answer (a nil
// bulk string is ""; for an array, its first element).
func (c *conn) command(args ...string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return c.reply()
}

func (c *conn) reply() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case ':':
		return line[1:], nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 1 {
			return "", err
		}
		first, err := c.reply()
		if err != nil {
			return "", err
		}
		for range n - 1 {
			if _, err := c.reply(); err != nil {
				return "", err
			}
		}
		return first, nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
