// Package accounts is the stateful half of skiff's identity system: users'
// passwords, sign-in sessions, access and API tokens, invites, the
// per-account sign-in limiter, the one-time codes of `skiff login`, and
// the live access policy built from the Role and RoleBinding objects. It
// does not speak HTTP (the API server does: routes, cookies, CSRF), does
// not verify OpenID Connect sign-ins (server/auth/oidc does, and hands
// over the verified claims) and does not evaluate rules
// (server/auth/rbac does).
//
// Everything secret is a Secret in namespace skiff-system holding hashes
// only (the store seals Secrets at rest):
//
//	user-password-<user>  skiff.dev/password   argon2id PHC string
//	session-<sid>         skiff.dev/session    refresh secret's SHA-256, user, expiry, last use
//	api-token-<id>        skiff.dev/api-token  secret's SHA-256, owner, role, namespaces, expiry
//	invite-<id>           skiff.dev/invite     secret's SHA-256, user, expiry
//
// The server keeps these, and the Users, Roles and RoleBindings, in
// memory, fed by informers and by its own writes, so that verifying a
// token reads no disk and a revocation takes effect on the next request:
//
//	registry ──informers──▶ tables (users, sessions, tokens, invites)
//	                 │            │
//	                 │            ├─▶ AuthenticateToken / AuthenticateSession
//	                 │            └─▶ trackers: cancel live requests of a
//	                 │                revoked session or disabled user
//	                 └─▶ roles + bindings ─▶ rbac.Policy (atomic) ─▶ Authorize
//
// Access tokens are stateless HMAC-signed envelopes
// (skiff_at_<claims>.<mac>, key <data-dir>/pki/session-signing.key) that
// name a session; a token is good only while its session is in the
// table, so they need no revocation list of their own.
package accounts
