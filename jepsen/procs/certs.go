package procs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// CA is a throwaway certificate authority for tests and the chaos suite:
// its certificate and key are PEM files under Dir, and it issues node and
// client certificates the way docs/tls.md makes them with openssl.
type CA struct {
	Dir string
	// CertFile is the CA's certificate (an agent's --tls-ca, a client's
	// --ca-cert).
	CertFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
}

// Leaf is a certificate issued by a CA and its key, as PEM files.
type Leaf struct {
	CertFile, KeyFile string
}

// CertOptions change what a CA issues; the zero value is a node
// certificate valid from an hour ago for a day, for server and client
// authentication.
type CertOptions struct {
	NotBefore, NotAfter time.Time
	// Usages are the extended key usages; nil means server and client.
	Usages []x509.ExtKeyUsage
}

// NewCA creates a CA named name with its files under dir.
func NewCA(dir, name string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Dir: dir, CertFile: filepath.Join(dir, "ca.pem"), cert: cert, key: key}
	return ca, writePEM(ca.CertFile, "CERTIFICATE", der)
}

// Issue makes a certificate with CommonName cn (a node's member id) whose
// SANs are hosts (IP addresses or DNS names), and writes it and its key as
// CN.pem and CN-key.pem under the CA's Dir.
func (ca *CA) Issue(cn string, hosts []string, opts CertOptions) (Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, err
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if opts.Usages == nil {
		opts.Usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: opts.NotBefore, NotAfter: opts.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: opts.Usages,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Leaf{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Leaf{}, err
	}
	leaf := Leaf{CertFile: filepath.Join(ca.Dir, cn+".pem"), KeyFile: filepath.Join(ca.Dir, cn+"-key.pem")}
	if err := writePEM(leaf.CertFile, "CERTIFICATE", der); err != nil {
		return Leaf{}, err
	}
	return leaf, writePEM(leaf.KeyFile, "PRIVATE KEY", keyDER)
}

// Node issues a node certificate for id reachable on loopback.
func (ca *CA) Node(id string) (Leaf, error) {
	return ca.Issue(id, []string{"127.0.0.1", "localhost"}, CertOptions{})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return n
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

// UseTLS gives the cluster a throwaway CA (under Root/pki): every agent
// then starts with a node certificate it issues for the agent's id and
// addresses (mutual TLS for Raft, HTTPS for the API), and Client and CLI
// speak HTTPS trusting the CA. Call it before starting agents.
func (c *Cluster) UseTLS() error {
	ca, err := NewCA(filepath.Join(c.Root, "pki"), "baton test CA")
	if err != nil {
		return fmt.Errorf("make the cluster's CA: %w", err)
	}
	conf, err := api.ClientTLS(ca.CertFile, "", "")
	if err != nil {
		return err
	}
	c.CA, c.clientTLS = ca, conf
	return nil
}

// ClientTLS is the TLS configuration of the cluster's clients (nil without
// TLS): it trusts the CA and presents no certificate.
func (c *Cluster) ClientTLS() *tls.Config { return c.clientTLS }

// tlsArgs are the TLS flags of agent a, issuing its certificate the first
// time: it names a's id, its API and Raft hosts and loopback.
func (a *Agent) tlsArgs() ([]string, error) {
	if a.c.CA == nil {
		return nil, nil
	}
	leaf := Leaf{CertFile: filepath.Join(a.c.CA.Dir, a.ID+".pem"), KeyFile: filepath.Join(a.c.CA.Dir, a.ID+"-key.pem")}
	if _, err := os.Stat(leaf.CertFile); err != nil {
		hosts := []string{"127.0.0.1", "localhost"}
		for _, addr := range []string{a.HTTPAddr, a.RaftAddr} {
			if h, _, err := net.SplitHostPort(addr); err == nil && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		if leaf, err = a.c.CA.Issue(a.ID, hosts, CertOptions{}); err != nil {
			return nil, fmt.Errorf("issue %s's certificate: %w", a.ID, err)
		}
	}
	return []string{"--tls-cert", leaf.CertFile, "--tls-key", leaf.KeyFile, "--tls-ca", a.c.CA.CertFile}, nil
}
