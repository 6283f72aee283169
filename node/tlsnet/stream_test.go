package tlsnet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// raftPeer is a TLS Raft transport that answers every AppendEntries with
// success and counts what reached it.
type raftPeer struct {
	trans *raft.NetworkTransport
	got   chan *raft.AppendEntriesRequest
}

func startPeer(t *testing.T, ident *Identity) *raftPeer {
	t.Helper()
	stream, err := NewStreamLayer("127.0.0.1:0", nil, ident, hclog.NewNullLogger())
	require.NoError(t, err)
	p := &raftPeer{trans: NewTransport(stream, raft.NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second}),
		got: make(chan *raft.AppendEntriesRequest, 16)}
	t.Cleanup(func() { p.trans.Close() })
	go func() {
		for rpc := range p.trans.Consumer() {
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				p.got <- req
			}
			rpc.Respond(&raft.AppendEntriesResponse{Success: true, Term: 1}, nil)
		}
	}()
	return p
}

func appendEntries(trans raft.Transport, to raft.ServerAddress) error {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte("x")}, Term: 99,
		Entries: []*raft.Log{{Index: 1, Term: 99, Type: raft.LogCommand, Data: []byte(`{"type":"member.join"}`)}}}
	var resp raft.AppendEntriesResponse
	return trans.AppendEntries("n1", to, req, &resp)
}

func loadIdent(t *testing.T, ca *procs.CA, id string) *Identity {
	t.Helper()
	leaf, err := ca.Node(id)
	require.NoError(t, err)
	ident, err := Load(Files{Cert: leaf.CertFile, Key: leaf.KeyFile, CA: ca.CertFile}, id)
	require.NoError(t, err)
	return ident
}

func tlsClientTransport(t *testing.T, ident *Identity) *raft.NetworkTransport {
	t.Helper()
	stream, err := NewStreamLayer("127.0.0.1:0", nil, ident, nil)
	require.NoError(t, err)
	trans := NewTransport(stream, raft.NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second})
	t.Cleanup(func() { trans.Close() })
	return trans
}

func TestStreamLayerAcceptsOnlyPeersTheCASigned(t *testing.T) {
	p := newPKI(t)
	server := startPeer(t, loadIdent(t, p.ca, "n1"))
	addr := server.trans.LocalAddr()

	t.Run("a peer with a certificate of the CA is served", func(t *testing.T) {
		require.NoError(t, appendEntries(tlsClientTransport(t, loadIdent(t, p.ca, "n2")), addr))
		require.Len(t, server.got, 1)
		<-server.got
	})

	t.Run("a plain TCP peer is refused", func(t *testing.T) {
		plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 2*time.Second, nil)
		require.NoError(t, err)
		defer plain.Close()
		require.Error(t, appendEntries(plain, addr))
	})

	t.Run("a peer with a certificate of another CA is refused", func(t *testing.T) {
		require.Error(t, appendEntries(tlsClientTransport(t, loadIdent(t, p.other, "n2")), addr))
	})

	t.Run("a client certificate of the CA is refused", func(t *testing.T) {
		leaf, err := p.ca.Issue("ops", nil, procs.CertOptions{Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		require.NoError(t, err)
		pair, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile)
		require.NoError(t, err)
		conn, err := tls.Dial("tcp", string(addr), &tls.Config{RootCAs: mustPool(t, p.ca.CertFile), Certificates: []tls.Certificate{pair}})
		if err == nil {
			// TLS 1.3 reports the server's refusal on the first read.
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Write([]byte{0})
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		require.ErrorContains(t, err, "remote error: tls: bad certificate")
	})

	t.Run("a TLS peer without a certificate is refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", string(addr), &tls.Config{RootCAs: mustPool(t, p.ca.CertFile)})
		if err == nil {
			// TLS 1.3 reports the server's refusal on the first read.
			_, err = conn.Write([]byte{0})
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		require.ErrorContains(t, err, "certificate required")
	})

	t.Run("TLS older than 1.2 is refused", func(t *testing.T) {
		leaf, err := p.ca.Node("old")
		require.NoError(t, err)
		pair, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile)
		require.NoError(t, err)
		_, err = tls.Dial("tcp", string(addr), &tls.Config{RootCAs: mustPool(t, p.ca.CertFile),
			Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		require.Error(t, err)
	})

	require.Empty(t, server.got, "no refused peer's RPC reached Raft")
}

func TestStreamLayerVerifiesTheServer(t *testing.T) {
	p := newPKI(t)
	// A server of another CA: a client of our CA refuses it, though the
	// server would accept the client.
	impostor := startPeer(t, loadIdent(t, p.other, "n1"))
	err := appendEntries(tlsClientTransport(t, loadIdent(t, p.ca, "n2")), impostor.trans.LocalAddr())
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	require.Empty(t, impostor.got)
}

func TestStreamLayerRefusesAnUnadvertisableAddress(t *testing.T) {
	p := newPKI(t)
	_, err := NewStreamLayer("0.0.0.0:0", nil, loadIdent(t, p.ca, "n1"), nil)
	require.ErrorContains(t, err, "not advertisable")
}

func mustPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pool, err := api.LoadCAPool(filepath.Clean(file))
	require.NoError(t, err)
	return pool
}

// SetAdmission decides on the names of peers that passed the handshake.
func TestStreamLayerAdmitsByName(t *testing.T) {
	p := newPKI(t)
	stream, err := NewStreamLayer("127.0.0.1:0", nil, loadIdent(t, p.ca, "n1"), hclog.NewNullLogger())
	require.NoError(t, err)
	var asked []string
	stream.SetAdmission(func(name string) error {
		asked = append(asked, name)
		if name != "n2" {
			return errors.New("not a server of this cluster")
		}
		return nil
	})
	server := &raftPeer{trans: NewTransport(stream, raft.NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second}),
		got: make(chan *raft.AppendEntriesRequest, 16)}
	t.Cleanup(func() { server.trans.Close() })
	go func() {
		for rpc := range server.trans.Consumer() {
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				server.got <- req
			}
			rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
		}
	}()
	addr := server.trans.LocalAddr()
	require.Error(t, appendEntries(tlsClientTransport(t, loadIdent(t, p.ca, "n9")), addr))
	require.Empty(t, server.got)
	require.NoError(t, appendEntries(tlsClientTransport(t, loadIdent(t, p.ca, "n2")), addr))
	require.Len(t, server.got, 1)
	require.Equal(t, []string{"n9", "n2"}, asked)
}
