package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"

	"golang.org/x/crypto/acme/autocert"
)

// observedCache is an autocert.Cache that tells put of every entry
// stored, so that a renewal autocert does on its own is seen.
type observedCache struct {
	autocert.Cache
	put func(key string, data []byte)
}

var _ autocert.Cache = (*observedCache)(nil)

// Put stores data under key, then tells put.
func (c *observedCache) Put(ctx context.Context, key string, data []byte) error {
	if err := c.Cache.Put(ctx, key, data); err != nil {
		return err
	}
	c.put(key, data)
	return nil
}

// leafOf is the first certificate of a cache entry (autocert's: a PEM
// private key, then the chain, leaf first).
func leafOf(data []byte) (*x509.Certificate, bool) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, false
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, false
		}
		return leaf, true
	}
}
