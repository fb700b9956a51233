// Package api is skiff's object model: the Kubernetes-shaped kinds, the
// table that names them (scheme.go), their defaults, validation that
// reports every problem with its field path, strict decoding of outside
// input (unknown fields are rejected by name, never dropped), label and
// field selectors, and JSON merge patches. It imports only the standard
// library, so every part of skiff — the node agent included — can use it.
// It does not store, serve or fetch objects.
package api
