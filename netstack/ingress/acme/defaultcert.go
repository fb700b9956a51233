package acme

import (
	"crypto/tls"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// setDefault takes the operator's certificate from its Secret; a Secret
// that holds no usable pair leaves none, and says why.
func (m *Manager) setDefault(s *api.Secret) {
	name := systemNamespace + "/" + s.Name
	cert, err := tls.X509KeyPair(s.Data[api.TLSCertKey], s.Data[api.TLSPrivateKeyKey])
	if err != nil {
		m.def.Store(nil)
		m.log.Error("default certificate unusable: put a PEM certificate chain in tls.crt and its key in tls.key", "secret", name, "err", err)
		return
	}
	if !m.now().Before(cert.Leaf.NotAfter) {
		m.log.Warn("default certificate has expired: replace it", "secret", name, "expired", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	m.def.Store(&cert)
	m.log.Info("default certificate loaded", "secret", name, "names", cert.Leaf.DNSNames, "expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// defaultCovers reports whether the operator's certificate is valid
// now and names host (a wildcard covers one label).
func (m *Manager) defaultCovers(host string) bool {
	c := m.def.Load()
	if c == nil || host == "" {
		return false
	}
	now := m.now()
	return now.After(c.Leaf.NotBefore) && now.Before(c.Leaf.NotAfter) && c.Leaf.VerifyHostname(host) == nil
}
