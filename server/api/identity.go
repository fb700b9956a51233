package api

// Well-known identities: the names the server gives its own parts, which
// role bindings and the agents refer to.
const (
	// GroupAdmins is the admin's group.
	GroupAdmins = "skiff:admins"
	// GroupNodes is the group of every node certificate.
	GroupNodes = "skiff:nodes"
	// NodeUserPrefix starts the name of a node's identity: system:node:NAME.
	NodeUserPrefix = "system:node:"
	// UserAPIServer is the identity the API server shows node agents when
	// it proxies logs and exec to them.
	UserAPIServer = "skiff:apiserver"
)
