package apiserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
)

// sshKeyRoutes serves people's SSH public keys, which sign them in for
// git over SSH: each manages their own; an admin lists and removes
// anyone's.
//
//	GET    /auth/v1/sshkeys[?user=NAME]   list (another's: list on sshkeys)
//	POST   /auth/v1/sshkeys               {name, publicKey}: 201 the key
//	DELETE /auth/v1/sshkeys/:id           own, or anyone's for an admin
func (s *Server) sshKeyRoutes(e *echo.Echo) {
	e.GET("/auth/v1/sshkeys", s.listSSHKeys)
	e.POST("/auth/v1/sshkeys", s.addSSHKey)
	e.DELETE("/auth/v1/sshkeys/:id", s.removeSSHKey)
}

func sshKey(k accounts.SSHKey) client.SSHKey {
	return client.SSHKey{ID: k.ID, Name: k.Name, User: k.User, Type: k.Type, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, Created: k.Created}
}

func (s *Server) listSSHKeys(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	ctx := c.Request().Context()
	id := callerOf(c)
	user := c.QueryParam("user")
	if user == "" {
		user = id.Name
	}
	if user != id.Name {
		if err := s.authorize(ctx, auth.Attributes{Verb: "list", Resource: "sshkeys", Name: user}); err != nil {
			return err
		}
	}
	keys, err := s.accounts.ListSSHKeys(ctx, user)
	if err != nil {
		return err
	}
	out := make([]client.SSHKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, sshKey(k))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func (s *Server) addSSHKey(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	var req client.SSHKeyRequest
	if err := decodeSmallJSON(c, "the request body", &req); err != nil {
		return err
	}
	r := c.Request()
	ri := infoFrom(r.Context())
	ri.attrs = auth.Attributes{Verb: "create", Resource: "sshkeys", Name: req.Name}
	k, err := s.accounts.AddSSHKey(context.WithoutCancel(r.Context()), callerOf(c), req.Name, req.PublicKey)
	if err != nil {
		return err
	}
	ri.allowed = true
	return c.JSON(http.StatusCreated, sshKey(k))
}

func (s *Server) removeSSHKey(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	infoFrom(r.Context()).attrs = auth.Attributes{Verb: "delete", Resource: "sshkeys", Name: c.Param("id")}
	if err := s.accounts.RemoveSSHKey(context.WithoutCancel(r.Context()), callerOf(c), c.Param("id")); err != nil {
		return err
	}
	infoFrom(r.Context()).allowed = true
	return c.NoContent(http.StatusNoContent)
}

// GitSSH makes the server of git push and fetch over SSH at addr (default
// :2222), in front of the apps' git handler: people sign in with their
// registered SSH keys and act with their own roles, so the checks of git
// over HTTPS apply. The host key is made at hostKeyPath at the first
// start. Run it while Serve runs (Serve answers the pushes' hooks). It
// needs apps and user accounts.
func (s *Server) GitSSH(addr, hostKeyPath string) (*gitpush.SSHServer, error) {
	if s.git == nil {
		return nil, errors.New("git over SSH serves the apps' repositories, and apps are not enabled on this server")
	}
	if s.accounts == nil {
		return nil, errors.New("git over SSH signs people in with their SSH keys, and this server has no user accounts")
	}
	return gitpush.NewSSHServer(s.git, gitpush.SSHConfig{Addr: addr, HostKeyPath: hostKeyPath, AuthenticateKey: s.sshAuthenticate,
		Record: s.recordSSH, Log: s.log})
}

// recordSSH puts a git command over SSH in the audit log, as a request
// to /git/<app>.git would be: pushes always, fetches when refused.
func (s *Server) recordSSH(r gitpush.SSHRecord) {
	push := r.Service == "git-receive-pack"
	if s.audit == nil || (!push && r.Allowed) {
		return
	}
	verb, code := "get", http.StatusOK
	if push {
		verb = "push"
	}
	switch {
	case !r.Allowed:
		code = http.StatusForbidden
	case r.Exit != 0:
		code = http.StatusUnprocessableEntity // the push was refused (its build or release failed)
	}
	e := audit.Entry{Time: time.Now().UTC(), Method: "SSH", Path: "/git/" + r.App + ".git " + r.Service, Code: code,
		Verb: verb, Resource: "apps", Name: r.App, Allowed: r.Allowed, Reason: r.Reason}
	if host, _, err := net.SplitHostPort(r.Address); err == nil {
		e.Address = host
	}
	if id, ok := r.Identity.Server.(*auth.Identity); ok {
		e.User, e.Groups, e.Via = id.Name, id.Groups, id.Via
	}
	s.audit.Record(e)
}

// sshAuthenticate is the identity of a registered SSH key, as the git
// handler's Authorize and CreateApp take it.
func (s *Server) sshAuthenticate(ctx context.Context, key ssh.PublicKey) (gitpush.Identity, error) {
	id, err := s.accounts.AuthenticateSSHKey(ctx, key)
	if err != nil {
		return gitpush.Identity{}, err
	}
	return gitpush.Identity{Name: id.Name, Server: id}, nil
}
