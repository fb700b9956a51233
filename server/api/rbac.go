package api

// This file holds the skiff.dev/v1 identity kinds: User, Role and
// RoleBinding. All three are cluster-scoped. What a person may do is the
// union of the rules of every Role bound to them or to one of their
// groups; nothing is allowed that no rule allows.

// User is a person who signs in: with a local password (set by an admin
// or through an invite link) or through an OpenID Connect provider (the
// first sign-in creates the User). Passwords are not kept here: their
// argon2id hashes are Secrets in skiff-system (UserPasswordSecretPrefix +
// name) that only admins can read.
type User struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       UserSpec   `json:"spec,omitzero"`
	Status     UserStatus `json:"status,omitzero"`
}

// UserSpec is what an admin sets on a User.
type UserSpec struct {
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
	// Groups are the groups an admin put the user in; a provider's groups
	// claim adds more at each sign-in (prefixed, see OIDCGroupPrefix).
	Groups []string `json:"groups,omitempty"`
	// Disabled ends the user's sessions, API tokens and open requests at
	// once and refuses every sign-in until cleared.
	Disabled bool `json:"disabled,omitempty"`
	// Identities are the provider accounts that sign in as this user; a
	// sign-in is matched by issuer and subject, never by name or email.
	Identities []UserIdentity `json:"identities,omitempty"`
}

// UserIdentity links an OpenID Connect account to a User.
type UserIdentity struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

// UserStatus is what the server records about a User.
type UserStatus struct {
	LastSignIn *Time `json:"lastSignIn,omitempty"`
}

// Role is a named set of rules. The built-in roles admin, developer and
// viewer (BuiltInRoles) are created at start and put back as they were
// if changed.
type Role struct {
	TypeMeta    `json:",inline"`
	ObjectMeta  `json:"metadata"`
	Description string       `json:"description,omitempty"`
	Rules       []PolicyRule `json:"rules,omitempty"`
}

// PolicyRule allows verbs on resources.
type PolicyRule struct {
	// Verbs: get, list, watch, create, update, patch, delete, or "*".
	// Subresources have their own verbs: pods/log get, pods/exec create,
	// pods/portforward create; apps push (git push).
	Verbs []string `json:"verbs"`
	// Resources are plural resource names ("deployments"), subresources
	// ("pods/log", "pods/status"), the pseudo-resources of the auth and
	// audit APIs, or "*" for all of them.
	Resources []string `json:"resources"`
	// ResourceNames, when set, limits the rule to objects of these names.
	ResourceNames []string `json:"resourceNames,omitempty"`
}

// RoleBinding grants a Role to users and groups, everywhere or only in
// some namespaces.
type RoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Role names the Role granted.
	Role     string    `json:"role,omitempty"`
	Subjects []Subject `json:"subjects,omitempty"`
	// Namespaces, when set, limits the grant to namespaced resources in
	// these namespaces (and reading those Namespace objects), plus reading
	// the cluster-scoped resources the role's rules name explicitly
	// (not through "*"): a developer bound to team-a may read nodes but
	// not write them. Empty: everywhere, cluster-scoped resources
	// included.
	Namespaces []string `json:"namespaces,omitempty"`
}

// Subject is who a RoleBinding grants its role to.
type Subject struct {
	// Kind is User or Group.
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// The kinds of Subject.
const (
	SubjectUser  = "User"
	SubjectGroup = "Group"
)

// The built-in roles.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleViewer    = "viewer"
	// BuiltInLabel marks the built-in roles and the admins binding.
	BuiltInLabel = "skiff.dev/built-in"
)

// Secrets of the identity system, all in namespace skiff-system and of
// their own types, each holding hashes only.
const (
	// UserPasswordSecretPrefix + user name: the user's argon2id hash.
	UserPasswordSecretPrefix = "user-password-"
	// SessionSecretPrefix + session id: a sign-in's refresh secret hash.
	SessionSecretPrefix = "session-"
	// APITokenSecretPrefix + token id: an API token's secret hash.
	APITokenSecretPrefix = "api-token-"
	// InviteSecretPrefix + invite id: a one-time link to set a password.
	InviteSecretPrefix = "invite-"

	SecretTypePassword SecretType = "skiff.dev/password"
	SecretTypeSession  SecretType = "skiff.dev/session"
	SecretTypeAPIToken SecretType = "skiff.dev/api-token"
	SecretTypeInvite   SecretType = "skiff.dev/invite"
)

// OIDCGroupPrefix starts the groups a provider's groups claim gives (a
// provider's group "admins" is "oidc:admins"), so that no provider can put
// anyone in skiff's own groups.
const OIDCGroupPrefix = "oidc:"
