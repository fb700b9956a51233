package apiserver

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// NodeCertIssuer signs node certificates (auth.PKI).
type NodeCertIssuer interface {
	IssueNodeCert(auth.NodeCertRequest) (*x509.Certificate, error)
}

// JoinConfig serves the join protocol: GET /cacerts (no credentials: the
// joining agent checks the answer against the CA hash in its token before
// it sends anything secret) and POST /join/v1/node.
type JoinConfig struct {
	CAPEM  []byte
	Issuer NodeCertIssuer
}

// maxLeaseSeconds bounds a lease so a typo cannot keep a dead node alive
// for a day.
const maxLeaseSeconds = 300

func (s *Server) getCACerts(c *echo.Context) error {
	if s.join == nil {
		return fmt.Errorf("this server does not take joining nodes: %w", errdefs.ErrNotFound)
	}
	c.Response().Header().Set("Content-Type", "application/x-pem-file")
	return c.Blob(http.StatusOK, "application/x-pem-file", s.join.CAPEM)
}

func (s *Server) joinNode(c *echo.Context) error {
	if s.join == nil {
		return fmt.Errorf("this server does not take joining nodes: %w", errdefs.ErrNotFound)
	}
	id, _ := auth.IdentityFrom(c.Request().Context())
	if id == nil || !(id.InGroup(auth.GroupBootstrappers) || id.InGroup(auth.GroupAdmins)) {
		return fmt.Errorf("joining a node needs the join token: %w", errdefs.ErrForbidden)
	}
	var req client.JoinRequest
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("join request: %v: %w", err, errdefs.ErrBadRequest)
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
	cert, err := s.join.Issuer.IssueNodeCert(auth.NodeCertRequest{
		NodeName: req.NodeName, PublicKey: csr.PublicKey, IPs: csr.IPAddresses, DNSNames: csr.DNSNames,
	})
	if err != nil {
		return err
	}
	s.log.Info("node joined", "node", req.NodeName, "from", c.Request().RemoteAddr, "serial", cert.SerialNumber.Text(16))
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
	if n := id.NodeName(); n != name && !id.InGroup(auth.GroupAdmins) {
		return fmt.Errorf("%s may not renew the lease of node %q: %w", id.Name, name, errdefs.ErrForbidden)
	}
	var req client.LeaseRequest
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("lease: %v: %w", err, errdefs.ErrBadRequest)
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
