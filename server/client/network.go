package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// ClusterNetwork is the answer of GET /cluster/v1/network: the cluster's
// network settings, which every node needs to agree on and so takes from
// the server rather than from its own flags.
type ClusterNetwork struct {
	// ClusterCIDR is the pod network; each node has a /24 of it.
	ClusterCIDR string `json:"clusterCIDR"`
	// ServiceCIDR is where services' cluster IPs come from.
	ServiceCIDR string `json:"serviceCIDR"`
	// ClusterDNS is the cluster DNS address every node serves.
	ClusterDNS string `json:"clusterDNS,omitempty"`
	// Overlay is how pod traffic crosses between nodes: host-gw, vxlan
	// or wireguard (netstack/overlay).
	Overlay string `json:"overlay"`
	// WireGuardPort is the UDP port of the wireguard overlay on every
	// node (0: netstack/overlay's default, 51820).
	WireGuardPort int `json:"wireGuardPort,omitempty"`
	// AppsDomain is the domain under which apps answer: an app's default
	// host is <app>.<AppsDomain>, on every node's router.
	AppsDomain string `json:"appsDomain,omitempty"`
}

// ClusterNetwork reads the cluster's network settings.
func (h *HTTP) ClusterNetwork(ctx context.Context) (ClusterNetwork, error) {
	var n ClusterNetwork
	resp, err := h.do(ctx, http.MethodGet, "/cluster/v1/network", nil, nil, "")
	if err != nil {
		return n, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&n)
	return n, err
}

// WhoAmI is the answer of GET /whoami: who the server takes the caller
// for.
type WhoAmI struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
	// Via is how: "certificate", "token" (the admin token), "session"
	// (skiff login), "cookie" (a browser) or "api-token".
	Via string `json:"via"`
	// Roles are the roles bound to the caller (or to a group of theirs).
	Roles []WhoAmIRole `json:"roles,omitempty"`
	// Scope narrows an API token: its role and namespaces.
	Scope *WhoAmIRole `json:"scope,omitempty"`
}

// WhoAmIRole is a role the caller holds, and where.
type WhoAmIRole struct {
	Role string `json:"role"`
	// Binding is the RoleBinding that grants it.
	Binding string `json:"binding,omitempty"`
	// Namespaces are where it applies; none: everywhere.
	Namespaces []string `json:"namespaces,omitempty"`
}

// WhoAmI asks the server who the caller is.
func (h *HTTP) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var w WhoAmI
	resp, err := h.do(ctx, http.MethodGet, "/whoami", nil, nil, "")
	if err != nil {
		return w, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&w)
	return w, err
}
