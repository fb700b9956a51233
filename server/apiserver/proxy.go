package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// AgentProxyConfig lets the API server reach node agents for logs and
// exec: its own client certificate, and the CA that signed the agents'.
type AgentProxyConfig struct {
	// ClientCert is the API server's client certificate, read per
	// connection (it is renewed while the server runs).
	ClientCert func() *tls.Certificate
	CAs        *x509.CertPool
}

// Headers on a log or exec answer.
const (
	// HeaderDefaultedContainer names the container the server chose when
	// the request named none; the CLI tells the person.
	HeaderDefaultedContainer = "Skiff-Defaulted-Container"
	// HeaderContainers lists the pod's containers, comma-separated.
	HeaderContainers = "Skiff-Containers"
)

// The query parameters passed on to the agent; others are refused, so a
// typo is not silently ignored.
var (
	logParams  = map[string]bool{"container": true, "follow": true, "tailLines": true, "previous": true, "timestamps": true, "sinceSeconds": true, "sinceTime": true}
	execParams = map[string]bool{"container": true, "command": true, "stdin": true, "tty": true}
)

// agentProxy holds one transport per node, each checking that the agent
// it reaches has that node's certificate. A transport is kept per node
// object (name and UID: a node deleted and registered again gets a new
// one) and dropped once unused for transportIdle, so deleted nodes leave
// nothing behind.
type agentProxy struct {
	cfg       AgentProxyConfig
	mu        sync.Mutex
	trs       map[agentKey]*agentTransport
	lastSweep time.Time
}

type agentKey struct{ node, uid string }

type agentTransport struct {
	tr       *http.Transport
	lastUsed time.Time
}

// transportIdle is how long an unused agent transport is kept.
const transportIdle = 10 * time.Minute

// Transport reaches node's agent as the API server: with its client
// certificate, and accepting only that node's certificate (whatever
// address it is reached at). The server's builds on a builder node use
// it too.
func (c AgentProxyConfig) Transport(node string) *http.Transport {
	want := auth.NodeUserPrefix + node
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return c.ClientCert(), nil
			},
			// The agent is known by its node certificate, whatever address
			// it was reached at: verified here instead of by host name.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the agent showed no certificate")
				}
				leaf := cs.PeerCertificates[0]
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.CAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
					return fmt.Errorf("the agent's certificate: %w", err)
				}
				if leaf.Subject.CommonName != want {
					return fmt.Errorf("the agent's certificate is %q's, want %q", leaf.Subject.CommonName, want)
				}
				return nil
			},
		},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     time.Minute,
		MaxIdleConnsPerHost: 4,
	}
	return tr
}

// AgentURL is the base URL of node's agent endpoint (its InternalIP and
// published port), or an error saying it has none.
func AgentURL(node *api.Node) (*url.URL, error) {
	addr := ""
	for _, a := range node.Status.Addresses {
		if a.Type == api.NodeInternalIP {
			addr = a.Address
			break
		}
	}
	port := node.Status.DaemonEndpoints.AgentEndpoint.Port
	if addr == "" || port == 0 {
		return nil, fmt.Errorf("node %s has published no agent endpoint (is its agent running?): %w", node.Name, errdefs.ErrUnavailable)
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(addr, strconv.Itoa(int(port)))}, nil
}

func (p *agentProxy) transport(node, uid string, now time.Time) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.lastSweep) > transportIdle/10 {
		p.lastSweep = now
		for k, at := range p.trs {
			if now.Sub(at.lastUsed) > transportIdle {
				at.tr.CloseIdleConnections()
				delete(p.trs, k)
			}
		}
	}
	key := agentKey{node, uid}
	if at, ok := p.trs[key]; ok {
		at.lastUsed = now
		return at.tr
	}
	tr := p.cfg.Transport(node)
	p.trs[key] = &agentTransport{tr: tr, lastUsed: now}
	return tr
}

func (s *Server) podLog(c *echo.Context) error  { return s.proxyToAgent(c, "containerLogs", logParams) }
func (s *Server) podExec(c *echo.Context) error { return s.proxyToAgent(c, "exec", execParams) }

// proxyToAgent sends a pod's log or exec request to the agent of the
// pod's node, streaming the answer (and, for exec, the WebSocket) back.
// The caller's credentials stay here: the agent sees only the server.
func (s *Server) proxyToAgent(c *echo.Context, what string, params map[string]bool) error {
	r := c.Request()
	ns, name := c.Param("namespace"), c.Param("name")
	a := auth.Attributes{Verb: "get", Resource: "pods/log", Namespace: ns, Name: name, Namespaced: true}
	if what == "exec" {
		a.Verb, a.Resource = "create", "pods/exec"
	}
	infoFrom(r.Context()).audit = true
	if err := s.authorize(r.Context(), a); err != nil {
		return err
	}
	if s.agents == nil {
		return fmt.Errorf("this server does not reach node agents: %w", errdefs.ErrNotFound)
	}
	q := r.URL.Query()
	for k := range q {
		if !params[k] {
			return fmt.Errorf("unknown query parameter %q for pod %s; known: %s: %w", k, what, strings.Join(slices.Sorted(maps.Keys(params)), ", "), errdefs.ErrBadRequest)
		}
	}
	obj, err := s.backend.Get(r.Context(), "pods", ns, name)
	if err != nil {
		return err
	}
	pod := obj.(*api.Pod)
	if what == "exec" && len(pod.Spec.PrivilegeRequests()) > 0 {
		// A shell in a privileged pod is root on its node: only whoever
		// may make such pods may enter one.
		if err := s.authorize(r.Context(), auth.Attributes{Verb: "create", Resource: "pods/privileged", Namespace: ns, Name: name, Namespaced: true}); err != nil {
			return err
		}
	}
	var names []string
	for _, ct := range pod.Spec.InitContainers {
		names = append(names, ct.Name)
	}
	for _, ct := range pod.Spec.Containers {
		names = append(names, ct.Name)
	}
	cname := q.Get("container")
	if cname == "" {
		cname = pod.Spec.Containers[0].Name
		if len(names) > 1 {
			c.Response().Header().Set(HeaderDefaultedContainer, cname)
		}
	} else if !slices.Contains(names, cname) {
		return fmt.Errorf("container %q is not in pod %s; it has: %s: %w", cname, name, strings.Join(names, ", "), errdefs.ErrBadRequest)
	}
	c.Response().Header().Set(HeaderContainers, strings.Join(names, ","))
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("pod %s is not on a node yet: %w", name, errdefs.ErrBadRequest)
	}
	nobj, err := s.backend.Get(r.Context(), "nodes", "", pod.Spec.NodeName)
	if err != nil {
		return fmt.Errorf("the node of pod %s: %w", name, err)
	}
	node := nobj.(*api.Node)
	target, err := AgentURL(node)
	if err != nil {
		return err
	}
	q.Del("container")
	target.Path = "/" + what + "/" + ns + "/" + name + "/" + cname // names are DNS labels: nothing to escape
	target.RawQuery = q.Encode()
	id, _ := auth.IdentityFrom(r.Context())
	if what == "exec" {
		who := ""
		if id != nil {
			who = id.Name
		}
		// The program only: arguments often carry secrets.
		s.log.Info("exec", "user", who, "pod", ns+"/"+name, "container", cname, "command", q.Get("command"), "from", r.RemoteAddr)
	}
	nodeName := node.Name
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		Transport:     s.agents.transport(nodeName, string(node.UID), time.Now()),
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			writeError(w, fmt.Errorf("cannot reach the agent of node %s at %s: %v: %w", nodeName, target.Host, err, errdefs.ErrUnavailable))
		},
	}
	rp.ServeHTTP(c.Response(), r)
	return nil
}
