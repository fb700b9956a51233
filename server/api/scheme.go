package api

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Kind describes one stored kind: how manifests name it, where the API
// serves it, and how to make an empty one.
type Kind struct {
	Kind       string   // "Deployment"
	APIVersion string   // "apps/v1", as in Kubernetes manifests
	Resource   string   // "deployments": the URL path segment
	ShortNames []string // CLI aliases: "deploy"
	Namespaced bool
	// HasStatus: the kind has a /status subresource; a write to the main
	// resource keeps the stored status, a write to /status keeps the rest.
	HasStatus bool
	New       func() Object
}

// kinds is the fixed table of every kind skiff serves. It is never
// changed after start; add a kind here (see docs/adding-a-kind.md).
var kinds = []Kind{
	{Kind: "Namespace", APIVersion: "v1", Resource: "namespaces", ShortNames: []string{"ns"}, HasStatus: true, New: func() Object { return &Namespace{} }},
	{Kind: "Node", APIVersion: "v1", Resource: "nodes", ShortNames: []string{"no"}, HasStatus: true, New: func() Object { return &Node{} }},
	{Kind: "Pod", APIVersion: "v1", Resource: "pods", ShortNames: []string{"po"}, Namespaced: true, HasStatus: true, New: func() Object { return &Pod{} }},
	{Kind: "ConfigMap", APIVersion: "v1", Resource: "configmaps", ShortNames: []string{"cm"}, Namespaced: true, New: func() Object { return &ConfigMap{} }},
	{Kind: "Secret", APIVersion: "v1", Resource: "secrets", Namespaced: true, New: func() Object { return &Secret{} }},
	{Kind: "Event", APIVersion: "v1", Resource: "events", ShortNames: []string{"ev"}, Namespaced: true, New: func() Object { return &Event{} }},
	{Kind: "Service", APIVersion: "v1", Resource: "services", ShortNames: []string{"svc"}, Namespaced: true, HasStatus: true, New: func() Object { return &Service{} }},
	{Kind: "Endpoints", APIVersion: "v1", Resource: "endpoints", ShortNames: []string{"ep"}, Namespaced: true, New: func() Object { return &Endpoints{} }},
	{Kind: "Deployment", APIVersion: "apps/v1", Resource: "deployments", ShortNames: []string{"deploy"}, Namespaced: true, HasStatus: true, New: func() Object { return &Deployment{} }},
	{Kind: "ReplicaSet", APIVersion: "apps/v1", Resource: "replicasets", ShortNames: []string{"rs"}, Namespaced: true, HasStatus: true, New: func() Object { return &ReplicaSet{} }},
	{Kind: "DaemonSet", APIVersion: "apps/v1", Resource: "daemonsets", ShortNames: []string{"ds"}, Namespaced: true, HasStatus: true, New: func() Object { return &DaemonSet{} }},
	{Kind: "StatefulSet", APIVersion: "apps/v1", Resource: "statefulsets", ShortNames: []string{"sts"}, Namespaced: true, HasStatus: true, New: func() Object { return &StatefulSet{} }},
	{Kind: "ControllerRevision", APIVersion: "apps/v1", Resource: "controllerrevisions", Namespaced: true, New: func() Object { return &ControllerRevision{} }},
	{Kind: "Job", APIVersion: "batch/v1", Resource: "jobs", Namespaced: true, HasStatus: true, New: func() Object { return &Job{} }},
	{Kind: "CronJob", APIVersion: "batch/v1", Resource: "cronjobs", ShortNames: []string{"cj"}, Namespaced: true, HasStatus: true, New: func() Object { return &CronJob{} }},
	{Kind: "PersistentVolumeClaim", APIVersion: "v1", Resource: "persistentvolumeclaims", ShortNames: []string{"pvc"}, Namespaced: true, HasStatus: true, New: func() Object { return &PersistentVolumeClaim{} }},
	{Kind: "PriorityClass", APIVersion: "scheduling.k8s.io/v1", Resource: "priorityclasses", ShortNames: []string{"pc"}, New: func() Object { return &PriorityClass{} }},
	{Kind: "User", APIVersion: "skiff.dev/v1", Resource: "users", HasStatus: true, New: func() Object { return &User{} }},
	{Kind: "Role", APIVersion: "skiff.dev/v1", Resource: "roles", New: func() Object { return &Role{} }},
	{Kind: "RoleBinding", APIVersion: "skiff.dev/v1", Resource: "rolebindings", New: func() Object { return &RoleBinding{} }},
	{Kind: "App", APIVersion: "skiff.dev/v1", Resource: "apps", Namespaced: true, HasStatus: true, New: func() Object { return &App{} }},
	{Kind: "Build", APIVersion: "skiff.dev/v1", Resource: "builds", Namespaced: true, HasStatus: true, New: func() Object { return &Build{} }},
	{Kind: "Release", APIVersion: "skiff.dev/v1", Resource: "releases", ShortNames: []string{"rel"}, Namespaced: true, HasStatus: true, New: func() Object { return &Release{} }},
}

// Kinds returns every kind, in a stable order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// LookupKind finds a kind by its Kind name ("Deployment").
func LookupKind(kind string) (Kind, bool) {
	for _, k := range kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return Kind{}, false
}

// LookupResource finds a kind by what a person or URL calls it: the
// resource ("deployments"), the lower-case kind ("deployment"), or a short
// name ("deploy"), in any case.
func LookupResource(name string) (Kind, bool) {
	n := strings.ToLower(name)
	for _, k := range kinds {
		if k.Resource == n || strings.ToLower(k.Kind) == n {
			return k, true
		}
		for _, s := range k.ShortNames {
			if s == n {
				return k, true
			}
		}
	}
	return Kind{}, false
}

// kindByType indexes the kind table by Go type; built once, read-only.
var kindByType = sync.OnceValue(func() map[reflect.Type]int {
	m := make(map[reflect.Type]int, len(kinds))
	for i, k := range kinds {
		m[reflect.TypeOf(k.New())] = i
	}
	return m
})

// KindOf returns the kind of obj by its Go type.
func KindOf(obj Object) (Kind, error) {
	if i, ok := kindByType()[reflect.TypeOf(obj)]; ok {
		return kinds[i], nil
	}
	return Kind{}, fmt.Errorf("api: %T is not a registered kind", obj)
}

// SetTypeMeta fills obj's apiVersion and kind from its Go type.
func SetTypeMeta(obj Object) {
	if k, err := KindOf(obj); err == nil {
		tm := obj.GetTypeMeta()
		tm.APIVersion, tm.Kind = k.APIVersion, k.Kind
	}
}
