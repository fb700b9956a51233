package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// Browser sessions live in __Host- cookies (Secure, Path=/, no Domain: no
// other host or subdomain can set or read them), HttpOnly and
// SameSite=Lax. Every state-changing request a cookie authenticates must
// also carry the CSRF token (double submit: the csrf cookie's value, in
// the X-Skiff-CSRF header or a form's csrf field), which another site can
// neither read nor set.
const (
	sessionCookie = "__Host-skiff-session"
	csrfCookie    = "__Host-skiff-csrf"
	csrfHeader    = "X-Skiff-CSRF"
	csrfField     = "csrf"
)

func (s *Server) signInRoutes(e *echo.Echo) {
	e.GET("/login", s.loginPage)
	e.POST("/auth/v1/login", s.login)
	e.POST("/auth/v1/logout", s.logout)
	e.POST("/auth/v1/token", s.token)
	e.GET("/auth/v1/cli", s.cliPage)
	e.POST("/auth/v1/cli", s.cliApprove)
	e.GET("/auth/v1/oidc/start", s.oidcStart)
	e.GET("/auth/v1/oidc/callback", s.oidcCallback)
	e.GET("/auth/v1/invite", s.invitePage)
	e.POST("/auth/v1/invite", s.acceptInvite)
	e.GET("/auth/v1/sessions", s.listSessions)
	e.DELETE("/auth/v1/sessions/:id", s.revokeSession)
	e.GET("/auth/v1/tokens", s.listTokens)
	e.POST("/auth/v1/tokens", s.createToken)
	e.DELETE("/auth/v1/tokens/:id", s.revokeToken)
	s.sshKeyRoutes(e)
	e.POST("/auth/v1/users/:name/password", s.setPassword)
	e.POST("/auth/v1/users/:name/invite", s.newInvite)
	e.GET("/audit/v1/events", s.auditEvents)
}

// noAccounts is the answer of the sign-in routes on a server without an
// identity store.
var errNoAccounts = fmt.Errorf("this server has no user accounts (it accepts its admin token only): %w", errdefs.ErrNotFound)

// sameOrigin refuses a request another site's page made (Origin, or the
// browser's Sec-Fetch-Site, says so): a session cookie is good only from
// this server's own pages. Same-site counts as another site here: apps
// skiff serves on sibling subdomains are same-site.
func sameOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			return fmt.Errorf("a request from another site's page (origin %s) is refused: %w", o, errdefs.ErrForbidden)
		}
	}
	if sf := r.Header.Get("Sec-Fetch-Site"); sf == "cross-site" || sf == "same-site" {
		return fmt.Errorf("a request from another site's page (Sec-Fetch-Site: %s) is refused: %w", sf, errdefs.ErrForbidden)
	}
	return nil
}

// checkCSRF refuses a cookie-authenticated change without the CSRF token,
// or from another site's page.
func checkCSRF(r *http.Request) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return fmt.Errorf("the request has no CSRF cookie; reload the page: %w", errdefs.ErrForbidden)
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			got = r.PostFormValue(csrfField)
		}
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) != 1 {
		return fmt.Errorf("the request's CSRF token is missing or wrong (send the %s cookie's value as %s): %w", csrfCookie, csrfHeader, errdefs.ErrForbidden)
	}
	return nil
}

// csrfToken is the browser's CSRF token, made (and set as a cookie) on
// its first page.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", Secure: true, SameSite: http.SameSiteLaxMode})
	return v
}

// setSession puts a session into the browser's cookie.
func setSession(w http.ResponseWriter, t accounts.Tokens) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: t.Refresh, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Expires: t.SessionExpires})
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// localPath is return if it is a path on this server, else "/": a
// sign-in never sends the browser to another site.
func localPath(ret string) string {
	if !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") || strings.ContainsRune(ret, '\\') {
		return "/"
	}
	for _, r := range ret {
		if r < 0x20 || r == 0x7f {
			return "/" // browsers drop tabs and newlines: "/\t/evil" is "//evil"
		}
	}
	if u, err := url.Parse(ret); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return ret
}

func isForm(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/x-www-form-urlencoded"
}

func sessionInfo(r *http.Request, via string) accounts.SessionInfo {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > 200 {
		ua = ua[:200]
	}
	return accounts.SessionInfo{Via: via, Address: host, UserAgent: ua}
}

func tokenResponse(user string, t accounts.Tokens) client.TokenResponse {
	return client.TokenResponse{User: user, AccessToken: t.Access, ExpiresAt: t.AccessExpires, RefreshToken: t.Refresh,
		SessionID: t.SessionID, SessionExpiresAt: t.SessionExpires}
}

// signIn checks a password, counting failures against the caller's
// address as wrong tokens are.
func (s *Server) signIn(c *echo.Context, user, password string) (*auth.Identity, error) {
	r := c.Request()
	ri := infoFrom(r.Context())
	ri.audit, ri.attrs = true, auth.Attributes{Verb: "create", Resource: "sessions", Name: user}
	done, err := s.fails.Attempt(r.RemoteAddr)
	if err != nil {
		ri.reason = err.Error()
		return nil, err
	}
	id, err := s.accounts.SignInPassword(r.Context(), user, password, r.RemoteAddr)
	done(errdefs.IsUnauthorized(err))
	if err != nil {
		// Kept under the account tried, so that `skiff audit --user
		// alice` shows the guesses at alice's password too.
		ri.id, ri.reason = &auth.Identity{Name: user, Via: "password"}, "sign-in refused: "+err.Error()
		return nil, err
	}
	ri.id, ri.allowed, ri.reason = id, true, "signed in with a password"
	return id, nil
}

// login signs in with a password: a form from the sign-in page (answered
// with a session cookie and a redirect), or JSON (answered with tokens:
// `skiff login --user`).
func (s *Server) login(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	if isForm(r) {
		if err := checkCSRF(r); err != nil {
			return err
		}
		ret := localPath(r.PostFormValue("return"))
		id, err := s.signIn(c, r.PostFormValue("username"), r.PostFormValue("password"))
		if err != nil {
			if errdefs.IsUnauthorized(err) || errdefs.IsTooManyRequests(err) {
				return s.renderLogin(c, ret, messageOf(err), statusOf(err).Code)
			}
			return err
		}
		t, err := s.accounts.NewSession(r.Context(), id, sessionInfo(r, "password"))
		if err != nil {
			return err
		}
		setSession(c.Response(), t)
		return c.Redirect(http.StatusSeeOther, ret)
	}
	var req client.PasswordSignIn
	if err := decodeSmallJSON(c, "the request body", &req); err != nil {
		return err
	}
	id, err := s.signIn(c, req.Username, req.Password)
	if err != nil {
		return err
	}
	t, err := s.accounts.NewSession(r.Context(), id, sessionInfo(r, "password"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tokenResponse(id.Name, t))
}

// messageOf is an error's message without its class's wrapping.
func messageOf(err error) string {
	msg := err.Error()
	for _, cl := range classes {
		msg = strings.TrimSuffix(msg, ": "+cl.class.Error())
	}
	return msg
}

// logout ends the caller's session (everywhere=true: all of the user's).
func (s *Server) logout(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	id, _ := auth.IdentityFrom(r.Context())
	infoFrom(r.Context()).attrs = auth.Attributes{Verb: "delete", Resource: "sessions", Name: id.Session}
	if id.Token != "" {
		return fmt.Errorf("an API token logs nobody out (revoke it with skiff token revoke %s): %w", id.Token, errdefs.ErrForbidden)
	}
	// Ending the session ends the requests it is making, this one too:
	// the revocation must not be cut short by it.
	ctx := context.WithoutCancel(r.Context())
	if r.URL.Query().Get("everywhere") == "true" {
		if _, err := s.accounts.RevokeSessions(ctx, id.Name); err != nil {
			return err
		}
	} else if id.Session != "" {
		if err := s.accounts.RevokeSession(ctx, id, id.Session); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	} else {
		return fmt.Errorf("%s did not sign in with a session (a token or certificate has nothing to log out of; revoke an API token with skiff token revoke): %w", id.Name, errdefs.ErrBadRequest)
	}
	infoFrom(r.Context()).allowed = true
	if id.Via == "cookie" {
		clearSession(c.Response())
		if isForm(r) {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// token answers a grant with tokens: the authorization code of a CLI
// sign-in (with its PKCE verifier), or a refresh token.
func (s *Server) token(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	var g client.TokenGrant
	if err := decodeSmallJSON(c, "the token request", &g); err != nil {
		return err
	}
	r := c.Request()
	done, err := s.fails.Attempt(r.RemoteAddr)
	if err != nil {
		return err
	}
	var t accounts.Tokens
	switch g.GrantType {
	case client.GrantAuthorizationCode:
		infoFrom(r.Context()).audit = true
		t, err = s.accounts.ExchangeCode(r.Context(), g.Code, g.CodeVerifier, g.RedirectURI)
	case client.GrantRefreshToken:
		t, err = s.accounts.Refresh(r.Context(), g.RefreshToken)
	default:
		err = fmt.Errorf("grantType %q: want %s or %s: %w", g.GrantType, client.GrantAuthorizationCode, client.GrantRefreshToken, errdefs.ErrBadRequest)
	}
	done(errdefs.IsUnauthorized(err))
	if err != nil {
		infoFrom(r.Context()).reason = err.Error()
		return err
	}
	user := ""
	if id, err := s.accounts.AuthenticateToken(r.Context(), t.Access); err == nil {
		user = id.Name
	}
	return c.JSON(http.StatusOK, tokenResponse(user, t))
}

// cliRequest is a `skiff login` browser sign-in's request.
type cliRequest struct {
	redirect, challenge, state string
}

func parseCLIRequest(v url.Values) (cliRequest, error) {
	q := cliRequest{redirect: v.Get("redirect_uri"), challenge: v.Get("code_challenge"), state: v.Get("state")}
	if m := v.Get("code_challenge_method"); m != "S256" {
		return q, fmt.Errorf("code_challenge_method %q: only S256 is accepted: %w", m, errdefs.ErrBadRequest)
	}
	if len(q.challenge) < 43 || len(q.challenge) > 128 {
		return q, fmt.Errorf("code_challenge: want the base64url SHA-256 of a verifier (43 characters): %w", errdefs.ErrBadRequest)
	}
	if len(q.state) > 256 {
		return q, fmt.Errorf("state: too long: %w", errdefs.ErrBadRequest)
	}
	return q, accounts.CheckRedirectURI(q.redirect)
}

// cliPage asks a signed-in browser to confirm a `skiff login`; one not
// signed in is sent to sign in first and comes back.
func (s *Server) cliPage(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	q, err := parseCLIRequest(r.URL.Query())
	if err != nil {
		return err
	}
	id, _, _ := s.identify(r)
	if id == nil || id.Session == "" {
		return c.Redirect(http.StatusSeeOther, "/login?return="+url.QueryEscape(r.URL.RequestURI()))
	}
	return s.render(c, http.StatusOK, "cli", pageData{
		Title: "Sign in the skiff command line", User: id.Name, CSRF: csrfToken(c.Response(), r),
		Redirect: q.redirect, Challenge: q.challenge, State: q.state, OOB: q.redirect == accounts.OOBRedirect,
	})
}

// cliApprove gives the confirmed `skiff login` its one-time code, by
// redirect to its loopback listener or shown on the page.
func (s *Server) cliApprove(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	id, cookie, err := s.identify(r)
	if err != nil {
		return err
	}
	if id == nil || !cookie {
		return fmt.Errorf("sign in in this browser first: %w", errdefs.ErrUnauthorized)
	}
	if err := checkCSRF(r); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("form: %v: %w", err, errdefs.ErrBadRequest)
	}
	q, err := parseCLIRequest(r.PostForm)
	if err != nil {
		return err
	}
	ri := infoFrom(r.Context())
	ri.id, ri.audit = id, true
	ri.attrs = auth.Attributes{Verb: "create", Resource: "sessions", Name: id.Name}
	code, err := s.accounts.IssueCode(id, sessionInfo(r, "cli"), q.challenge, q.redirect)
	if err != nil {
		return err
	}
	ri.allowed, ri.reason = true, "approved a command-line sign-in"
	if q.redirect == accounts.OOBRedirect {
		return s.render(c, http.StatusOK, "code", pageData{Title: "Paste this code into skiff login", User: id.Name, Code: code})
	}
	u, _ := url.Parse(q.redirect)
	v := u.Query()
	v.Set("code", code)
	if q.state != "" {
		v.Set("state", q.state)
	}
	u.RawQuery = v.Encode()
	return c.Redirect(http.StatusSeeOther, u.String())
}

// oidcStart sends the browser to the provider's sign-in.
func (s *Server) oidcStart(c *echo.Context) error {
	if s.oidc == nil || s.accounts == nil {
		return fmt.Errorf("this server has no OpenID Connect provider configured (skiff server --oidc-issuer): %w", errdefs.ErrNotFound)
	}
	r := c.Request()
	// The sign-in is bound to this browser: the callback must come with
	// the cookie set here, so that a callback URL someone else started
	// (an attacker signed in as themselves) signs nobody in (login CSRF).
	bind := randomToken()
	u, err := s.oidc.Start(r.Context(), bind+"|"+localPath(r.URL.Query().Get("return")))
	if err != nil {
		return err
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: oidcCookie, Value: bind, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	return c.Redirect(http.StatusSeeOther, u)
}

// oidcCookie binds a provider sign-in to the browser that started it.
const oidcCookie = "__Host-skiff-oidc"

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// oidcCallback finishes a provider sign-in: the user (made at first
// sign-in) gets a session cookie and goes where they were going.
func (s *Server) oidcCallback(c *echo.Context) error {
	if s.oidc == nil || s.accounts == nil {
		return fmt.Errorf("this server has no OpenID Connect provider configured: %w", errdefs.ErrNotFound)
	}
	r := c.Request()
	ri := infoFrom(r.Context())
	ri.audit, ri.attrs = true, auth.Attributes{Verb: "create", Resource: "sessions"}
	fail := func(err error) error {
		ri.reason = err.Error()
		code := statusOf(err).Code
		if code >= 500 {
			return err
		}
		return s.renderLogin(c, "/", messageOf(err), code)
	}
	claims, ret, err := s.oidc.Finish(r.Context(), r.URL.Query())
	bind, ret, _ := strings.Cut(ret, "|")
	if err != nil {
		return fail(err)
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: oidcCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, MaxAge: -1})
	if ck, cerr := r.Cookie(oidcCookie); cerr != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(bind)) != 1 {
		return fail(fmt.Errorf("this sign-in was started in another browser (or its cookie expired): start it again here: %w", errdefs.ErrUnauthorized))
	}
	id, err := s.accounts.SignInOIDC(r.Context(), claims)
	if err != nil {
		return fail(err)
	}
	t, err := s.accounts.NewSession(r.Context(), id, sessionInfo(r, "oidc"))
	if err != nil {
		return err
	}
	ri.id, ri.allowed, ri.reason = id, true, "signed in through "+claims.Issuer
	setSession(c.Response(), t)
	return c.Redirect(http.StatusSeeOther, localPath(ret))
}

// invitePage shows the form at an invite link.
func (s *Server) invitePage(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	return s.render(c, http.StatusOK, "invite", pageData{Title: "Choose your password", CSRF: csrfToken(c.Response(), r), Code: r.URL.Query().Get("code")})
}

// acceptInvite sets the invited user's password and signs them in.
func (s *Server) acceptInvite(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	if !isForm(r) {
		return fmt.Errorf("post the invite page's form: %w", echo.ErrUnsupportedMediaType)
	}
	if err := checkCSRF(r); err != nil {
		return err
	}
	code, pw := r.PostFormValue("code"), r.PostFormValue("password")
	ri := infoFrom(r.Context())
	ri.audit, ri.attrs = true, auth.Attributes{Verb: "update", Resource: "users"}
	done, err := s.fails.Attempt(r.RemoteAddr)
	if err != nil {
		return err
	}
	if pw != r.PostFormValue("confirm") {
		done(false)
		return s.render(c, http.StatusUnprocessableEntity, "invite", pageData{Title: "Choose your password", CSRF: csrfToken(c.Response(), r), Code: code, Error: "the two passwords differ"})
	}
	user, err := s.accounts.AcceptInvite(r.Context(), code, pw)
	done(errdefs.IsUnauthorized(err))
	if err != nil {
		ri.reason = err.Error()
		if errdefs.IsInvalid(err) {
			return s.render(c, http.StatusUnprocessableEntity, "invite", pageData{Title: "Choose your password", CSRF: csrfToken(c.Response(), r), Code: code, Error: messageOf(err)})
		}
		return err
	}
	ri.attrs.Name, ri.allowed, ri.reason = user, true, "set a password through an invite"
	return s.renderLogin(c, "/", "Your password is set: sign in.", http.StatusOK)
}

// callerOf is the request's identity (authenticate has made sure there
// is one on every route that is not public).
func callerOf(c *echo.Context) *auth.Identity {
	id, _ := auth.IdentityFrom(c.Request().Context())
	return id
}

func (s *Server) listSessions(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	id := callerOf(c)
	user := c.QueryParam("user")
	if user == "" {
		user = id.Name
	}
	if user != id.Name {
		if err := s.authorize(c.Request().Context(), auth.Attributes{Verb: "list", Resource: "sessions", Name: user}); err != nil {
			return err
		}
	}
	var out []client.Session
	for _, si := range s.accounts.Sessions(c.Request().Context(), user) {
		out = append(out, client.Session{ID: si.ID, User: si.User, Via: si.Via, Address: si.Address, UserAgent: si.UserAgent,
			Created: si.Created, Expires: si.Expires, LastUsed: si.LastUsed, Current: si.ID == id.Session})
	}
	return c.JSON(http.StatusOK, map[string]any{"items": nonNil(out)})
}

func (s *Server) revokeSession(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	infoFrom(r.Context()).attrs = auth.Attributes{Verb: "delete", Resource: "sessions", Name: c.Param("id")}
	if err := s.accounts.RevokeSession(context.WithoutCancel(r.Context()), callerOf(c), c.Param("id")); err != nil {
		return err
	}
	infoFrom(r.Context()).allowed = true
	return c.NoContent(http.StatusNoContent)
}

func apiToken(t accounts.TokenInfo) client.APIToken {
	return client.APIToken{ID: t.ID, Name: t.Name, User: t.Owner, Role: t.Role, Namespaces: t.Namespaces, Created: t.Created, Expires: t.Expires}
}

func (s *Server) listTokens(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	id := callerOf(c)
	owner := id.Name
	if c.QueryParam("all") == "true" {
		if err := s.authorize(c.Request().Context(), auth.Attributes{Verb: "list", Resource: "apitokens"}); err != nil {
			return err
		}
		owner = ""
	}
	var out []client.APIToken
	for _, t := range s.accounts.APITokens(c.Request().Context(), owner) {
		out = append(out, apiToken(t))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": nonNil(out)})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) createToken(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	var req client.APITokenRequest
	if err := decodeSmallJSON(c, "the request body", &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return fmt.Errorf("ttl %q: want a positive duration such as 720h: %w", req.TTL, errdefs.ErrBadRequest)
		}
		ttl = d
	}
	r := c.Request()
	ri := infoFrom(r.Context())
	ri.attrs = auth.Attributes{Verb: "create", Resource: "apitokens", Name: req.Name}
	id := callerOf(c)
	if id.Token != "" {
		return fmt.Errorf("an API token may not make API tokens; sign in as %s (skiff login): %w", id.Name, errdefs.ErrForbidden)
	}
	info, secret, err := s.accounts.CreateAPIToken(r.Context(), id, accounts.TokenRequest{Name: req.Name, Role: req.Role, Namespaces: req.Namespaces, TTL: ttl})
	if err != nil {
		return err
	}
	ri.allowed = true
	out := apiToken(info)
	out.Token = secret
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) revokeToken(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	r := c.Request()
	infoFrom(r.Context()).attrs = auth.Attributes{Verb: "delete", Resource: "apitokens", Name: c.Param("id")}
	if err := s.accounts.RevokeAPIToken(r.Context(), callerOf(c), c.Param("id")); err != nil {
		return err
	}
	infoFrom(r.Context()).allowed = true
	return c.NoContent(http.StatusNoContent)
}

// userRequest checks a request about the user the path names (it needs
// update on that user) and decodes its body into req.
func (s *Server) userRequest(c *echo.Context, req any) (string, error) {
	if s.accounts == nil {
		return "", errNoAccounts
	}
	name := c.Param("name")
	if err := s.authorize(c.Request().Context(), auth.Attributes{Verb: "update", Resource: "users", Name: name}); err != nil {
		return "", err
	}
	return name, decodeSmallJSON(c, "the request body", req)
}

// setPassword sets a user's password, for whoever may update the user
// (an admin; a person changes their own through an invite link).
func (s *Server) setPassword(c *echo.Context) error {
	var req struct {
		Password string `json:"password"`
	}
	name, err := s.userRequest(c, &req)
	if err != nil {
		return err
	}
	if err := s.accounts.SetPassword(c.Request().Context(), name, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// newInvite makes a one-time link for a user to choose a password.
func (s *Server) newInvite(c *echo.Context) error {
	var req struct {
		TTL string `json:"ttl"`
	}
	name, err := s.userRequest(c, &req)
	if err != nil {
		return err
	}
	ttl := 72 * time.Hour
	if req.TTL != "" && req.TTL != "0s" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			return fmt.Errorf("ttl %q: want a duration up to 720h: %w", req.TTL, errdefs.ErrBadRequest)
		}
		ttl = d
	}
	secret, err := s.accounts.NewInvite(c.Request().Context(), name, ttl)
	if err != nil {
		return err
	}
	r := c.Request()
	u := url.URL{Scheme: "https", Host: r.Host, Path: "/auth/v1/invite", RawQuery: url.Values{"code": {secret}}.Encode()}
	return c.JSON(http.StatusCreated, client.Invite{URL: u.String(), Expires: time.Now().Add(ttl).UTC()})
}

// auditEvents answers audit queries for whoever may list the audit log.
func (s *Server) auditEvents(c *echo.Context) error {
	if s.audit == nil {
		return fmt.Errorf("this server keeps no audit log: %w", errdefs.ErrNotFound)
	}
	if err := s.authorize(c.Request().Context(), auth.Attributes{Verb: "list", Resource: "audit"}); err != nil {
		return err
	}
	s.audit.ServeHTTP(c.Response(), c.Request())
	return nil
}
