package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// Every joined node's current certificate is recorded where no node can
// write: a Secret node-cert-<name> in skiff-system holding its serial,
// written at join and renewal, deleted with the Node. A node's
// certificate counts only while it is the recorded one: a certificate a
// reinstall superseded, or one of a node deleted from the cluster, opens
// nothing and renews no more, long before it would expire.
const (
	nodeCertRecordPrefix = "node-cert-"
	nodeCertSerialKey    = "serial"
	// nodeCertPreviousKey is the serial a renewal replaced: it still
	// opens the API (the agent's requests in flight while it renews, and
	// its watches), but renews no more. A join clears it.
	nodeCertPreviousKey = "previous"
	// SecretTypeNodeCertificate is the type of the records.
	secretTypeNodeCertificate api.SecretType = "skiff.dev/node-certificate"
)

// nodeCerts caches the records (read on a miss; kept up to date by
// this server's writes).
type nodeCerts struct {
	backend client.Backend
	mu      sync.Mutex
	serials map[string][2]string // node → {serial, previous} (hex); zero: cached absent
}

func (n *nodeCerts) secrets() *client.Resource[*api.Secret] {
	return client.For[*api.Secret](n.backend, auth.JoinTokenNamespace)
}

// current is the recorded serial of node's certificate ("" if none) and
// the one its last renewal replaced.
func (n *nodeCerts) current(ctx context.Context, node string) (string, string, error) {
	n.mu.Lock()
	rec, ok := n.serials[node]
	n.mu.Unlock()
	if ok {
		return rec[0], rec[1], nil
	}
	s, err := n.secrets().Get(ctx, nodeCertRecordPrefix+node)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return "", "", err
	default:
		rec = [2]string{string(s.Data[nodeCertSerialKey]), string(s.Data[nodeCertPreviousKey])}
	}
	n.mu.Lock()
	n.serials[node] = rec
	n.mu.Unlock()
	return rec[0], rec[1], nil
}

// check says whether cert may speak for node: its current certificate,
// or (unless renewing) the one its last renewal replaced.
func (n *nodeCerts) check(ctx context.Context, node string, cert *x509.Certificate, renewing bool) error {
	cur, prev, err := n.current(ctx, node)
	if err != nil {
		return err
	}
	presented := cert.SerialNumber.Text(16)
	if !renewing && prev != "" && presented == prev {
		return nil
	}
	if cur != presented {
		if cur == "" {
			return fmt.Errorf("node %q has no certificate recorded (it was deleted from the cluster, or joined before skiff recorded them): join it again with a token (skiff join-token create --node %s): %w",
				node, node, errdefs.ErrUnauthorized)
		}
		return fmt.Errorf("this certificate of node %q (serial %s) was superseded when the node joined again from another machine: %w",
			node, presented, errdefs.ErrUnauthorized)
	}
	return nil
}

// record makes cert node's current certificate. With expect set (a
// renewal), only if the recorded one is still expect: a renewal racing a
// reinstall loses.
func (n *nodeCerts) record(ctx context.Context, node string, cert *x509.Certificate, expect string) error {
	serial := cert.SerialNumber.Text(16)
	secrets := n.secrets()
	err := client.RetryOnConflict(ctx, func() error {
		s, err := secrets.Get(ctx, nodeCertRecordPrefix+node)
		if errdefs.IsNotFound(err) {
			if expect != "" {
				return fmt.Errorf("node %q has no certificate recorded: %w", node, errdefs.ErrForbidden)
			}
			_, err = secrets.Create(ctx, &api.Secret{
				ObjectMeta: api.ObjectMeta{Name: nodeCertRecordPrefix + node, Namespace: auth.JoinTokenNamespace},
				Type:       secretTypeNodeCertificate,
				Data:       map[string][]byte{nodeCertSerialKey: []byte(serial)},
			})
			return err
		}
		if err != nil {
			return err
		}
		if expect != "" && string(s.Data[nodeCertSerialKey]) != expect {
			return fmt.Errorf("node %q's certificate was superseded while it renewed: %w", node, errdefs.ErrForbidden)
		}
		s.Data = map[string][]byte{nodeCertSerialKey: []byte(serial)}
		if expect != "" {
			s.Data[nodeCertPreviousKey] = []byte(expect)
		}
		_, err = secrets.Update(ctx, s)
		return err
	})
	n.forget(node)
	return err
}

// drop removes node's record (its Node was deleted).
func (n *nodeCerts) drop(ctx context.Context, node string) error {
	_, err := n.secrets().Delete(ctx, nodeCertRecordPrefix+node, api.DeleteOptions{})
	n.forget(node)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

func (n *nodeCerts) forget(node string) {
	n.mu.Lock()
	delete(n.serials, node)
	n.mu.Unlock()
}
