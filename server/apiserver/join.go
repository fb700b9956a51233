package apiserver

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/nodelease"
)

// NodeCertIssuer signs node certificates (auth.PKI).
type NodeCertIssuer interface {
	IssueNodeCert(auth.NodeCertRequest) (*x509.Certificate, error)
}

// JoinConfig serves the join protocol: GET /cacerts (no credentials: the
// joining agent checks the answer against the CA hash in its token before
// it sends anything secret) and POST /join/v1/node, which alone accepts
// the join secret: it is not a credential for anything else.
type JoinConfig struct {
	CAPEM  []byte
	Issuer NodeCertIssuer
	// Tokens checks join secrets (auth.JoinTokens).
	Tokens auth.JoinAuthenticator
}

// maxLeaseSeconds bounds a lease so a typo cannot keep a dead node alive
// for a day.
const maxLeaseSeconds = 300

func (s *Server) getCACerts(c *echo.Context) error {
	if s.join == nil {
		return fmt.Errorf("this server does not take joining nodes: %w", errdefs.ErrNotFound)
	}
	return c.Blob(http.StatusOK, "application/x-pem-file", s.join.CAPEM)
}

func (s *Server) joinNode(c *echo.Context) error {
	if s.join == nil {
		return fmt.Errorf("this server does not take joining nodes: %w", errdefs.ErrNotFound)
	}
	// authenticate lets this path through: only the join secret counts.
	token, ok := auth.BearerToken(c.Request())
	if !ok {
		return fmt.Errorf("joining a node needs the join token's secret as the bearer token: %w", errdefs.ErrUnauthorized)
	}
	done, err := s.joinFails.Attempt(c.Request().RemoteAddr)
	if err != nil {
		return err
	}
	grant, err := s.join.Tokens.AuthenticateJoin(c.Request().Context(), token)
	done(errdefs.IsUnauthorized(err))
	if err != nil {
		return err
	}
	req, err := decodeJoinRequest(c, "join request")
	if err != nil {
		return err
	}
	var fes api.FieldErrors
	if req.NodeName == "" {
		fes = append(fes, api.Required("nodeName", "the node's name"))
	} else if msgs := api.IsDNS1123Subdomain(req.NodeName); len(msgs) > 0 {
		fes = append(fes, api.Invalid("nodeName", req.NodeName, strings.Join(msgs, "; ")))
	}
	csr, err := auth.ParseCSR([]byte(req.CSR))
	if err != nil {
		fes = append(fes, &api.FieldError{Type: api.FieldInvalid, Field: "csr", Detail: err.Error()})
	}
	if len(fes) > 0 {
		return fmt.Errorf("join request: %w", fes)
	}
	// A name in use is not up for grabs: every Pi is called raspberrypi
	// out of the box, and the second would take over the first's node,
	// subnet and pods; knowing a node's name is not being it. A machine
	// reinstalled under its old name comes back with a token made for
	// that node (used once).
	ctx := c.Request().Context()
	if _, err := s.backend.Get(ctx, "nodes", "", req.NodeName); err == nil {
		if grant.Node != req.NodeName {
			alive := ""
			if l, ok := s.leaseOf(req.NodeName); ok && !l.Expired(time.Now()) {
				alive = fmt.Sprintf(" and alive (lease renewed %s ago)", time.Since(l.RenewTime).Round(time.Second))
			}
			return fmt.Errorf("node %q is in the cluster%s, and this machine does not hold its identity: give it another --node-name; "+
				"or, to reinstall %s, make a token for it (`skiff join-token create --node %s`) or delete the node first: %w",
				req.NodeName, alive, req.NodeName, req.NodeName, errdefs.ErrAlreadyExists)
		}
	} else if !errdefs.IsNotFound(err) {
		return err
	} else if grant.Node != "" && grant.Node != req.NodeName {
		return fmt.Errorf("this join token is for node %q only: join with --node-name %s, or use another token: %w",
			grant.Node, grant.Node, errdefs.ErrForbidden)
	}
	if grant.Node != "" {
		// A token for one reinstall is spent before anything is issued:
		// of two joins racing with it, only the one whose delete wins
		// goes on.
		pre := &api.Preconditions{UID: &grant.UID, ResourceVersion: &grant.ResourceVersion}
		if _, err := s.backend.Delete(ctx, "secrets", auth.JoinTokenNamespace, auth.JoinTokenSecretPrefix+grant.TokenID,
			api.DeleteOptions{Preconditions: pre}); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				return fmt.Errorf("join token %s was used meanwhile: %w", grant.TokenID, errdefs.ErrUnauthorized)
			}
			return err
		}
	}
	// The certificate names no address: the agent is known by its CN, and
	// a node must not be able to pass for the API server to a client.
	cert, err := s.join.Issuer.IssueNodeCert(auth.NodeCertRequest{NodeName: req.NodeName, PublicKey: csr.PublicKey})
	if err != nil {
		return err
	}
	if err := s.nodeCerts.record(ctx, req.NodeName, cert, ""); err != nil {
		return err
	}
	s.log.Info("node joined", "node", req.NodeName, "token", grant.TokenID, "from", c.Request().RemoteAddr, "serial", cert.SerialNumber.Text(16))
	return c.JSON(http.StatusOK, client.JoinResponse{
		Certificate:          string(auth.EncodeCert(cert)),
		CertificateAuthority: string(s.join.CAPEM),
	})
}

// decodeJoinRequest reads a JoinRequest body of at most 64 KiB, strictly.
func decodeJoinRequest(c *echo.Context, what string) (client.JoinRequest, error) {
	var req client.JoinRequest
	return req, decodeSmallJSON(c, what, &req)
}

// decodeSmallJSON strictly decodes a body of at most 64 KiB into v (the
// join, sign-in and token routes' bodies); what names it in errors.
func decodeSmallJSON(c *echo.Context, what string, v any) error {
	return decodeJSONAtMost(c, what, v, 64<<10)
}

// decodeJSONAtMost strictly decodes a body of at most limit bytes into v.
func decodeJSONAtMost(c *echo.Context, what string, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%s: larger than %d bytes: %w", what, mbe.Limit, errdefs.ErrTooLarge)
		}
		return fmt.Errorf("%s: %v: %w", what, err, errdefs.ErrBadRequest)
	}
	return nil
}

// renewNode issues a node a new certificate for a fresh key before its
// current one runs out, with the same identity: the caller must present
// a valid node certificate (a bearer token, even the admin's, does not
// do), and the certificate names the node the presented one names,
// whatever the request says — a node can renew only itself.
func (s *Server) renewNode(c *echo.Context) error {
	r := c.Request()
	id, _ := auth.IdentityFrom(r.Context())
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || id == nil || id.NodeName() == "" {
		who := "the caller"
		if id != nil {
			who = id.Name
		}
		return fmt.Errorf("%s is not a node: renewing a node certificate needs the node's current certificate: %w", who, errdefs.ErrForbidden)
	}
	if s.join == nil {
		return fmt.Errorf("this server does not take joining nodes: %w", errdefs.ErrNotFound)
	}
	req, err := decodeJoinRequest(c, "renew request")
	if err != nil {
		return err
	}
	// A node deleted from the cluster is done: its certificate renews
	// no more (it joins again, with a token, if it comes back).
	if _, err := s.backend.Get(r.Context(), "nodes", "", id.NodeName()); errdefs.IsNotFound(err) {
		return fmt.Errorf("node %q is not in the cluster (deleted?): its certificate is not renewed; join it again with a join token: %w", id.NodeName(), errdefs.ErrForbidden)
	} else if err != nil {
		return err
	}
	// Only the node's recorded certificate renews (authenticate checked
	// it too): one a reinstall superseded is done.
	presented := r.TLS.VerifiedChains[0][0]
	if err := s.nodeCerts.check(r.Context(), id.NodeName(), presented, true); err != nil {
		return fmt.Errorf("%w (not renewed)", err)
	}
	if req.NodeName != id.NodeName() {
		return fmt.Errorf("renew request: %w", api.FieldErrors{api.Invalid("nodeName", req.NodeName,
			fmt.Sprintf("the certificate presented is node %q's; a node renews only its own", id.NodeName()))})
	}
	csr, err := auth.ParseCSR([]byte(req.CSR))
	if err != nil {
		return fmt.Errorf("renew request: %w", api.FieldErrors{{Type: api.FieldInvalid, Field: "csr", Detail: err.Error()}})
	}
	cert, err := s.join.Issuer.IssueNodeCert(auth.NodeCertRequest{NodeName: id.NodeName(), PublicKey: csr.PublicKey})
	if err != nil {
		return err
	}
	if err := s.nodeCerts.record(r.Context(), id.NodeName(), cert, presented.SerialNumber.Text(16)); err != nil {
		return err
	}
	s.log.Info("node certificate renewed", "node", id.NodeName(), "serial", cert.SerialNumber.Text(16), "expires", cert.NotAfter.Format(time.RFC3339))
	return c.JSON(http.StatusOK, client.JoinResponse{
		Certificate:          string(auth.EncodeCert(cert)),
		CertificateAuthority: string(s.join.CAPEM),
	})
}

// nodeLease renews (PUT) or reads (GET) a node's lease. A node may renew
// only its own; the node must exist.
func (s *Server) nodeLease(c *echo.Context) error {
	if s.leases == nil {
		return fmt.Errorf("this server keeps no node leases: %w", errdefs.ErrNotFound)
	}
	name := c.Param("name")
	r := c.Request()
	verb := "update"
	if r.Method == http.MethodGet {
		verb = "get"
	}
	if err := s.authorize(r.Context(), auth.Attributes{Verb: verb, Resource: "nodes/status", Name: name}); err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		l, ok := s.leases.Get(name)
		if !ok {
			return fmt.Errorf("node %q holds no lease: %w", name, errdefs.ErrNotFound)
		}
		return c.JSON(http.StatusOK, l)
	}
	id, _ := auth.IdentityFrom(r.Context())
	if id == nil {
		return errdefs.ErrUnauthorized
	}
	if n := id.NodeName(); n != name && id.InGroup(auth.GroupNodes) {
		return fmt.Errorf("%s may not renew the lease of node %q: %w", id.Name, name, errdefs.ErrForbidden)
	}
	var req client.LeaseRequest
	if err := decodeJSONAtMost(c, "lease", &req, 4<<10); err != nil {
		return err
	}
	if req.LeaseDurationSeconds < 1 || req.LeaseDurationSeconds > maxLeaseSeconds {
		return fmt.Errorf("lease: %w", api.FieldErrors{api.Invalid("leaseDurationSeconds", req.LeaseDurationSeconds,
			fmt.Sprintf("must be 1 to %d", maxLeaseSeconds))})
	}
	if _, err := s.backend.Get(r.Context(), "nodes", "", name); err != nil {
		return err
	}
	l := s.leases.Renew(name, id.Name, time.Duration(req.LeaseDurationSeconds)*time.Second)
	return c.JSON(http.StatusOK, l)
}

func (s *Server) leaseOf(node string) (nodelease.Lease, bool) {
	if s.leases == nil {
		return nodelease.Lease{}, false
	}
	return s.leases.Get(node)
}

// clusterNetwork answers the cluster's network settings to anyone
// authenticated (every node needs them; they hold no secret).
func (s *Server) clusterNetwork(c *echo.Context) error {
	if s.network == nil {
		return fmt.Errorf("this server publishes no cluster network settings: %w", errdefs.ErrNotFound)
	}
	return c.JSON(http.StatusOK, s.network)
}
