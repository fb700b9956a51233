package apiserver

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v5"
)

// The sign-in pages: plain HTML forms, no script, so that they work in
// any browser and leave nothing for a script injection to use. The web
// console (a later issue) links here.

// pageData is what a page shows.
type pageData struct {
	Title, User, CSRF, Return, Error, Notice string
	OIDC                                     bool
	// The command-line sign-in's request, carried through its confirm
	// form, and the code a headless sign-in shows.
	Redirect, Challenge, State, Code string
	OOB                              bool
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{{.Title}} · skiff</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem;color:#111}
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.45rem;box-sizing:border-box;font:inherit}
button,.button{display:block;width:100%;margin-top:1rem;padding:.55rem;font:inherit;text-align:center;background:#1f4d8f;color:#fff;border:0;border-radius:4px;text-decoration:none}
.error{color:#a00}.notice{color:#064}code{font-size:1.2rem;word-break:break-all}</style></head><body><h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}{{if .Notice}}<p class="notice">{{.Notice}}</p>{{end}}{{end}}
{{define "login"}}{{template "head" .}}
<form method="post" action="/auth/v1/login">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="return" value="{{.Return}}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
{{if .OIDC}}<a class="button" href="/auth/v1/oidc/start?return={{.Return}}">Sign in with your organisation's account</a>{{end}}
</body></html>{{end}}
{{define "cli"}}{{template "head" .}}
<p>The skiff command line on your computer asks to sign in as <b>{{.User}}</b>. Approve only if you just ran <kbd>skiff login</kbd>.</p>
<form method="post" action="/auth/v1/cli">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="redirect_uri" value="{{.Redirect}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}"><input type="hidden" name="code_challenge_method" value="S256">
<input type="hidden" name="state" value="{{.State}}">
<button type="submit">Sign in the command line as {{.User}}</button></form></body></html>{{end}}
{{define "code"}}{{template "head" .}}
<p>Paste this code where <kbd>skiff login</kbd> asks for it. It works once, within two minutes.</p>
<p><code>{{.Code}}</code></p></body></html>{{end}}
{{define "invite"}}{{template "head" .}}
<form method="post" action="/auth/v1/invite">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="code" value="{{.Code}}">
<label for="password">New password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
<label for="confirm">The same again</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">Set password</button></form></body></html>{{end}}
`))

// render answers with a page. Pages are never cached and never framed.
func (s *Server) render(c *echo.Context, code int, name string, d pageData) error {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, d); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:* http://localhost:* http://[::1]:*; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	c.Response().WriteHeader(code)
	_, err := c.Response().Write(b.Bytes())
	return err
}

// renderLogin shows the sign-in page, with a message when a sign-in
// failed or a password was just set.
func (s *Server) renderLogin(c *echo.Context, ret, msg string, code int) error {
	d := pageData{Title: "Sign in to skiff", CSRF: csrfToken(c.Response(), c.Request()), Return: localPath(ret), OIDC: s.oidc != nil}
	if code >= 400 {
		d.Error = msg
	} else {
		d.Notice = msg
	}
	return s.render(c, code, "login", d)
}

// loginPage is GET /login.
func (s *Server) loginPage(c *echo.Context) error {
	if s.accounts == nil {
		return errNoAccounts
	}
	return s.renderLogin(c, c.QueryParam("return"), "", http.StatusOK)
}
