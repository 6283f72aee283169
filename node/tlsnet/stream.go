package tlsnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// HandshakeTimeout bounds the TLS handshake of a Raft connection, so that a
// peer that connects and says nothing holds no goroutine for long.
const HandshakeTimeout = 10 * time.Second

// StreamLayer is a raft.StreamLayer over mutual TLS: it accepts only
// connections whose peer presents a certificate the CA signed, and dials
// peers presenting the node's own certificate and verifying theirs. A plain
// TCP connection, or one with a certificate of another CA, fails its
// handshake and is closed before Raft reads a byte of it.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	log       hclog.Logger
	// admit, when set, decides on the name of each peer that passed the
	// handshake (SetAdmission).
	admit atomic.Pointer[func(name string) error]
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer listens on bind and advertises advertise (the listener's
// own address when nil).
func NewStreamLayer(bind string, advertise net.Addr, ident *Identity, log hclog.Logger) (*StreamLayer, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if tcp, ok := advertise.(*net.TCPAddr); !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft address %s is not advertisable: give a host peers can reach", advertise)
	}
	return &StreamLayer{ln: ln, advertise: advertise, server: ident.RaftServerConfig(), client: ident.ClientConfig(), log: log}, nil
}

// NewTransport is Raft's network transport over s, with cfg's settings
// (its Stream is set to s).
func NewTransport(s *StreamLayer, cfg raft.NetworkTransportConfig) *raft.NetworkTransport {
	cfg.Stream = s
	return raft.NewNetworkTransportWithConfig(&cfg)
}

// Accept waits for the next connection and returns it; its handshake runs
// on its first read or write, bounded by HandshakeTimeout, so that one slow
// peer does not stall the accept loop.
func (s *StreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, s.server), log: s.log, admit: s.admit.Load()}, nil
}

// SetAdmission makes every accepted connection, once its handshake
// passed, subject to admit, called with the CommonName of the peer's
// certificate (its member id): an error closes the connection before Raft
// reads from it, and is logged. Without it, any peer with a node
// certificate of the CA is served.
func (s *StreamLayer) SetAdmission(admit func(name string) error) { s.admit.Store(&admit) }

// Close stops listening.
func (s *StreamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a connection to the peer at address and completes the
// handshake within timeout: the peer's certificate must be signed by the CA
// and name the host of address.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.client}
	return d.Dial("tcp", string(address))
}

// serverConn is an accepted connection that completes its handshake before
// its first read or write.
type serverConn struct {
	*tls.Conn
	log   hclog.Logger
	admit *func(name string) error
	once  sync.Once
	err   error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
		defer cancel()
		c.err = c.Conn.HandshakeContext(ctx)
		if c.err == nil && c.admit != nil {
			name := c.ConnectionState().PeerCertificates[0].Subject.CommonName
			if err := (*c.admit)(name); err != nil {
				c.err = fmt.Errorf("peer %q: %w", name, err)
				_ = c.Conn.Close()
			}
		}
		if c.err != nil {
			c.log.Warn("raft connection refused", "remote", c.RemoteAddr().String(), "error", c.err)
		}
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
