package tlsnet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// Files names an agent's certificate, its private key and the CA that
// signed it (and every other node's), all PEM (--tls-cert, --tls-key,
// --tls-ca).
type Files struct {
	Cert, Key, CA string
}

// Set reports whether any of the files is named.
func (f Files) Set() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Complete is nil when all three files are named or none is, and otherwise
// an error naming the missing flags.
func (f Files) Complete() error {
	if !f.Set() {
		return nil
	}
	var missing []string
	for _, m := range []struct{ flag, file string }{{"--tls-cert", f.Cert}, {"--tls-key", f.Key}, {"--tls-ca", f.CA}} {
		if m.file == "" {
			missing = append(missing, m.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("TLS needs --tls-cert, --tls-key and --tls-ca together; missing %v", missing)
	}
	return nil
}

// Identity is an agent's loaded certificate and CA. The certificate and
// key can be reloaded; connections opened after a reload use the new pair,
// open ones keep theirs. The CA is read once, at start.
type Identity struct {
	files Files
	name  string
	pool  *x509.CertPool

	mu   sync.RWMutex
	pair *tls.Certificate
	leaf *x509.Certificate
}

// Load reads and checks the three files for the member id: each must be
// readable PEM, the key must belong to the certificate, the certificate
// must be valid now, signed by the CA, good for both server and client
// authentication, and name id in its CommonName. The error is one line
// that names the file and what is wrong with it.
func Load(f Files, id string) (*Identity, error) {
	if err := f.Complete(); err != nil {
		return nil, err
	}
	if !f.Set() {
		return nil, errors.New("no TLS files given")
	}
	pool, err := api.LoadCAPool(f.CA)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca %s: %w", f.CA, err)
	}
	ident := &Identity{files: f, name: id, pool: pool}
	pair, leaf, err := ident.readPair(time.Now())
	if err != nil {
		return nil, err
	}
	ident.pair, ident.leaf = pair, leaf
	return ident, nil
}

// readPair reads the certificate and key files and checks them against the
// CA at now.
func (i *Identity) readPair(now time.Time) (*tls.Certificate, *x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(i.files.Cert, i.files.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-cert %s with --tls-key %s: %w", i.files.Cert, i.files.Key, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("--tls-cert %s: %w", i.files.Cert, err)
		}
	}
	if err := i.check(leaf, pair.Certificate[1:], now); err != nil {
		return nil, nil, fmt.Errorf("--tls-cert %s: %w", i.files.Cert, err)
	}
	return &pair, leaf, nil
}

// check verifies a node certificate (with the intermediates that followed
// it in its file) against the CA, for both of its uses, and its name.
func (i *Identity) check(leaf *x509.Certificate, chain [][]byte, now time.Time) error {
	layout := time.RFC3339
	switch {
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("not valid before %s (it is now %s)", leaf.NotBefore.UTC().Format(layout), now.UTC().Format(layout))
	case now.After(leaf.NotAfter):
		return fmt.Errorf("expired at %s (it is now %s)", leaf.NotAfter.UTC().Format(layout), now.UTC().Format(layout))
	}
	inter := x509.NewCertPool()
	for _, der := range chain {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	for _, use := range []struct {
		usage x509.ExtKeyUsage
		name  string
	}{{x509.ExtKeyUsageServerAuth, "serverAuth"}, {x509.ExtKeyUsageClientAuth, "clientAuth"}} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: i.pool, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{use.usage}})
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			return fmt.Errorf("not signed by the CA of --tls-ca %s (issuer %q)", i.files.CA, leaf.Issuer.String())
		case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
			return fmt.Errorf("not for %s: a node certificate needs extendedKeyUsage serverAuth and clientAuth, "+
				"as it serves and calls other agents with it", use.name)
		case err != nil:
			return err
		}
	}
	if leaf.Subject.CommonName != i.name {
		return fmt.Errorf("names CN=%q, but this agent's --id is %q: a node certificate names its member id in the CommonName",
			leaf.Subject.CommonName, i.name)
	}
	return nil
}

// Reload reads the certificate and key files again. A pair that does not
// pass Load's checks leaves the old one in use, and the error says why.
func (i *Identity) Reload() error {
	pair, leaf, err := i.readPair(time.Now())
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.pair, i.leaf = pair, leaf
	i.mu.Unlock()
	return nil
}

// Name is the member id the certificate names.
func (i *Identity) Name() string { return i.name }

// NotAfter is when the certificate in use expires.
func (i *Identity) NotAfter() time.Time {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.leaf.NotAfter
}

func (i *Identity) certificate() *tls.Certificate {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.pair
}

// APIServerConfig is the TLS configuration of the agent's HTTPS API: it
// presents the node certificate, and verifies a client certificate when
// one is given (VerifyClientCertIfGiven), so that rpc.PeerCertName can name
// the calling node; clients without one (the CLI, scripts) are served too.
func (i *Identity) APIServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: i.pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return i.certificate(), nil },
	}
}

// RaftServerConfig is the TLS configuration of the Raft listener: a peer
// must present a certificate the CA signed (RequireAndVerifyClientCert)
// that is a node certificate, good for server authentication as well: a
// certificate the CA issued for clients only (a person's, a script's) is
// refused, so that it reaches the API but never Raft.
func (i *Identity) RaftServerConfig() *tls.Config {
	c := i.APIServerConfig()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || !nodeCertificate(cs.PeerCertificates[0]) {
			return errors.New("a Raft peer must present a node certificate (extendedKeyUsage serverAuth and clientAuth); this one is for clients only")
		}
		return nil
	}
	return c
}

// nodeCertificate reports whether cert may serve as well as call: what
// sets a node's certificate apart from a client's.
func nodeCertificate(cert *x509.Certificate) bool {
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return len(cert.ExtKeyUsage) == 0 // no restriction: any use
}

// ClientConfig is the TLS configuration of the agent's calls to other
// agents, over the API and over Raft: it verifies the other agent's
// certificate against the CA and the address it dials, and always presents
// its own. Make it once and reuse it (api.NewClientTLS shares connections
// per configuration).
func (i *Identity) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: i.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return i.certificate(), nil },
	}
}
