// Package registry is the API's rules on top of the store: it checks that
// an object fits the path it was sent to, fills defaults, validates, keeps
// namespaces honest, gives new pods the priority of their PriorityClass
// (priority.go), gives services their cluster IPs and node ports
// (services.go), and turns merge patches into updates. The API server
// serves it over HTTPS; components inside the server process use it
// directly as a client.Backend, so both get the same answers. It owns no
// state of its own and knows nothing of HTTP.
package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/store"
)

// Config configures a Registry.
type Config struct {
	Store store.Store
	// BookmarkInterval is how often an idle watch gets a BOOKMARK.
	// Default 30 s.
	BookmarkInterval time.Duration
	// ServiceCIDR is the range services' cluster IPs come from (default
	// DefaultServiceCIDR, 10.43.0.0/16); its first address is kept for
	// the API service and its tenth for cluster DNS (services.go).
	ServiceCIDR string
	// NodePortRange is the range NodePort and LoadBalancer services'
	// node ports come from, "low-high" (default DefaultNodePortRange,
	// 30000-32767).
	NodePortRange string
	Log           *slog.Logger
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Store == nil {
		return fmt.Errorf("registry: store is required")
	}
	if c.BookmarkInterval < 0 {
		return fmt.Errorf("registry: bookmark interval %v is negative", c.BookmarkInterval)
	}
	return c.ValidateServiceRanges()
}

// ValidateServiceRanges reports what is wrong with the service CIDR and
// node port range alone (for a server's settings, before a store).
func (c Config) ValidateServiceRanges() error {
	_, err := parseServiceRanges(c.ServiceCIDR, c.NodePortRange)
	return err
}

// Registry serves the API's operations on a store.
type Registry struct {
	store    store.Store
	bookmark time.Duration
	log      *slog.Logger
	// classes serializes writes of PriorityClasses, so that two cannot
	// both become the global default.
	classes sync.Mutex
	// apps serializes creating Apps, whose names are unique across
	// namespaces.
	apps sync.Mutex
	// ranges are what services' cluster IPs and node ports come from;
	// serviceAlloc serializes allocating from them (services.go).
	ranges       serviceRanges
	serviceAlloc sync.Mutex
	// authz, once set, decides who besides skiff:admins may make pods
	// that can take over a node (pods/privileged).
	authz atomic.Pointer[auth.Authorizer]
}

// SetAuthorizer lets the roles decide who may create privileged pods
// (verb create on pods/privileged); until it is called only skiff:admins
// may. The identity system is built on the registry, so it comes after.
func (r *Registry) SetAuthorizer(a auth.Authorizer) { r.authz.Store(&a) }

var _ client.Backend = (*Registry)(nil)

// New returns a Registry.
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BookmarkInterval == 0 {
		cfg.BookmarkInterval = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ranges, err := parseServiceRanges(cfg.ServiceCIDR, cfg.NodePortRange)
	if err != nil {
		return nil, err
	}
	return &Registry{store: cfg.Store, bookmark: cfg.BookmarkInterval, log: cfg.Log, ranges: ranges}, nil
}

// SystemNamespaces are the namespaces that exist from the first start and
// cannot be deleted.
func SystemNamespaces() []string { return []string{"default", "skiff-system"} }

// EnsureNamespaces creates the system namespaces that do not exist yet.
// When they all exist it writes nothing.
func (r *Registry) EnsureNamespaces(ctx context.Context) error {
	for _, name := range SystemNamespaces() {
		_, err := r.store.Get(ctx, api.Key{Resource: "namespaces", Name: name})
		if errdefs.IsNotFound(err) {
			_, err = r.Create(ctx, "namespaces", "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}})
			if errdefs.IsAlreadyExists(err) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("namespace %q: %w", name, err)
		}
	}
	return nil
}

// kindFor finds the kind served at resource.
func kindFor(resource string) (api.Kind, error) {
	k, ok := api.LookupResource(resource)
	if !ok || k.Resource != resource {
		return api.Kind{}, fmt.Errorf("the server has no resource %q: %w", resource, errdefs.ErrNotFound)
	}
	return k, nil
}

// fit checks that obj is of kind k and belongs at namespace, and fills its
// namespace from the path.
func fit(k api.Kind, namespace string, obj api.Object) error {
	ok, err := api.KindOf(obj)
	if err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrBadRequest)
	}
	if ok.Kind != k.Kind {
		return fmt.Errorf("a %s was sent to %s: %w", ok.Kind, k.Resource, errdefs.ErrBadRequest)
	}
	m := obj.GetObjectMeta()
	switch {
	case !k.Namespaced && namespace != "":
		return fmt.Errorf("%s is not namespaced; use /api/v1/%s: %w", k.Kind, k.Resource, errdefs.ErrBadRequest)
	case !k.Namespaced:
		if m.Namespace != "" {
			return api.FieldErrors{api.Forbidden("metadata.namespace", k.Kind+" is cluster-scoped; remove the namespace")}
		}
	case namespace == "":
		return fmt.Errorf("%s is namespaced; use /api/v1/namespaces/{namespace}/%s: %w", k.Kind, k.Resource, errdefs.ErrBadRequest)
	case m.Namespace == "":
		m.Namespace = namespace
	case m.Namespace != namespace:
		return fmt.Errorf("the object's namespace %q does not match the request's %q: %w", m.Namespace, namespace, errdefs.ErrBadRequest)
	}
	return nil
}

// invalid names the object in a validation failure.
func invalid(k api.Kind, obj api.Object, errs api.FieldErrors) error {
	return &InvalidError{Kind: k.Kind, Name: obj.GetObjectMeta().Name, Errs: errs}
}

// InvalidError is a validation failure of one object: its kind, name and
// every field problem. It is of class errdefs.ErrInvalid.
type InvalidError struct {
	Kind, Name string
	Errs       api.FieldErrors
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s %q is invalid: %s", e.Kind, e.Name, e.Errs.Error())
}

// Unwrap exposes the field errors (and so errdefs.ErrInvalid).
func (e *InvalidError) Unwrap() error { return e.Errs }

// Create defaults, validates and stores a new object.
func (r *Registry) Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	obj = api.Clone(obj) // the caller's object is not changed, as over HTTPS
	if err := fit(k, namespace, obj); err != nil {
		return nil, err
	}
	// The UID is the server's, never the caller's, and is given before
	// defaulting: a Job's generated selector is made from it.
	obj.GetObjectMeta().UID = store.NewUID()
	api.Default(obj)
	if err := r.admitPrivilege(ctx, k, obj, nil); err != nil {
		return nil, err
	}
	if err := r.admitSecretType(ctx, obj); err != nil {
		return nil, err
	}
	if p, ok := obj.(*api.Pod); ok {
		if err := r.checkAppImages(ctx, p); err != nil {
			if errs, ok := err.(api.FieldErrors); ok {
				return nil, invalid(k, obj, errs)
			}
			return nil, err
		}
		if err := r.admitPod(ctx, p); err != nil {
			if errs, ok := err.(api.FieldErrors); ok {
				return nil, invalid(k, obj, errs)
			}
			return nil, err
		}
	}
	if s, ok := obj.(*api.Service); ok {
		normalizeClusterIPs(&s.Spec)
	}
	if errs := api.Validate(obj); len(errs) > 0 {
		return nil, invalid(k, obj, errs)
	}
	if k.Namespaced {
		if err := r.namespaceOpen(ctx, obj.GetObjectMeta().Namespace); err != nil {
			return nil, err
		}
	}
	if c, ok := obj.(*api.PersistentVolumeClaim); ok && !slices.Contains(c.Finalizers, api.FinalizerPVCProtection) {
		// Held until no pod uses the claim (server/controller/volumes),
		// so its data is not deleted under a running pod.
		c.Finalizers = append(c.Finalizers, api.FinalizerPVCProtection)
	}
	if pc, ok := obj.(*api.PriorityClass); ok {
		r.classes.Lock()
		defer r.classes.Unlock()
		if err := r.checkSingleDefault(ctx, pc); err != nil {
			return nil, err
		}
	}
	if a, ok := obj.(*api.App); ok {
		r.apps.Lock()
		defer r.apps.Unlock()
		if err := r.checkAppName(ctx, a); err != nil {
			return nil, err
		}
	}
	if s, ok := obj.(*api.Service); ok {
		// Held until s is stored, so no other service is given the same.
		r.serviceAlloc.Lock()
		defer r.serviceAlloc.Unlock()
		if err := r.allocateService(ctx, s, nil); err != nil {
			return nil, admissionError(k, obj, err)
		}
	}
	return r.store.Create(ctx, obj)
}

// namespaceOpen checks that ns exists and is not being deleted.
func (r *Registry) namespaceOpen(ctx context.Context, ns string) error {
	got, err := r.store.Get(ctx, api.Key{Resource: "namespaces", Name: ns})
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("namespace %q does not exist; create it first: %w", ns, errdefs.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if got.GetObjectMeta().DeletionTimestamp != nil {
		return fmt.Errorf("namespace %q is being deleted: %w", ns, errdefs.ErrForbidden)
	}
	return nil
}

// Get reads one object.
func (r *Registry) Get(ctx context.Context, resource, namespace, name string) (api.Object, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	return r.store.Get(ctx, key(k, namespace, name))
}

// rawGetter is a store that can hand out an object's stored JSON.
type rawGetter interface {
	GetRaw(ctx context.Context, key api.Key) ([]byte, error)
}

// GetRaw returns one object's JSON as stored, without decoding it, when
// the store can; ok is false when it cannot and Get must be used.
func (r *Registry) GetRaw(ctx context.Context, resource, namespace, name string) (data []byte, ok bool, err error) {
	rg, can := r.store.(rawGetter)
	if !can {
		return nil, false, nil
	}
	k, err := kindFor(resource)
	if err != nil {
		return nil, true, err
	}
	data, err = rg.GetRaw(ctx, key(k, namespace, name))
	return data, true, err
}

func key(k api.Kind, namespace, name string) api.Key {
	if !k.Namespaced {
		namespace = ""
	}
	return api.Key{Resource: k.Resource, Namespace: namespace, Name: name}
}

// selectors parses the selectors of opts for kind k.
func selectors(k api.Kind, opts api.ListOptions) (labels, fields api.Selector, err error) {
	if opts.LabelSelector != "" {
		if labels, err = api.ParseSelector(opts.LabelSelector); err != nil {
			return nil, nil, fmt.Errorf("labelSelector: %w", err)
		}
	}
	if opts.FieldSelector != "" {
		if fields, err = api.ParseFieldSelector(opts.FieldSelector); err != nil {
			return nil, nil, fmt.Errorf("fieldSelector: %w", err)
		}
		supported := api.SelectableFields(k.New())
		for _, f := range fieldKeys(opts.FieldSelector) {
			if _, ok := supported[f]; !ok {
				return nil, nil, fmt.Errorf("fieldSelector: %s cannot be selected on by %q; supported: %s: %w",
					k.Resource, f, strings.Join(sortedKeys(supported), ", "), errdefs.ErrBadRequest)
			}
		}
	}
	return labels, fields, nil
}

// fieldKeys returns the field names a parsed field selector refers to.
func fieldKeys(sel string) []string {
	var keys []string
	for _, term := range strings.Split(sel, ",") {
		if i := strings.IndexAny(term, "!="); i > 0 {
			keys = append(keys, strings.TrimSpace(term[:i]))
		}
	}
	return keys
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// List reads a page of objects.
func (r *Registry) List(ctx context.Context, resource, namespace string, opts api.ListOptions) (*client.ObjectList, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	labels, fields, err := selectors(k, opts)
	if err != nil {
		return nil, err
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("limit %d is negative: %w", opts.Limit, errdefs.ErrBadRequest)
	}
	res, err := r.store.List(ctx, k.Resource, store.ListOptions{
		Namespace: namespace, Labels: labels, Fields: fields, Limit: opts.Limit, Continue: opts.Continue,
	})
	if err != nil {
		return nil, err
	}
	return &client.ObjectList{Items: res.Items, ResourceVersion: strconv.FormatInt(res.Revision, 10), Continue: res.Continue}, nil
}

// Update validates and stores a changed object (or, for subresource
// "status", its status).
func (r *Registry) Update(ctx context.Context, resource, namespace string, obj api.Object, subresource string) (api.Object, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	obj = api.Clone(obj) // the caller's object is not changed, as over HTTPS
	if err := fit(k, namespace, obj); err != nil {
		return nil, err
	}
	m := obj.GetObjectMeta()
	svc, isSvc := obj.(*api.Service)
	isSvc = isSvc && subresource == ""
	if isSvc {
		// Held from reading the old service until the new is stored.
		r.serviceAlloc.Lock()
		defer r.serviceAlloc.Unlock()
	}
	old, err := r.store.Get(ctx, key(k, m.Namespace, m.Name))
	if err != nil {
		return nil, err
	}
	api.Default(obj)
	if subresource == "" {
		if err := r.admitPrivilege(ctx, k, obj, old); err != nil {
			return nil, err
		}
		if err := r.admitSecretType(ctx, obj); err != nil {
			return nil, err
		}
	}
	if p, ok := obj.(*api.Pod); ok && subresource == "" {
		keepPodPriority(old.(*api.Pod), p)
	}
	if isSvc {
		keepServiceAllocations(old.(*api.Service), svc)
	}
	next := obj
	if subresource == "status" {
		// Only the status is written: validate what will be stored.
		next = api.Clone(old)
		api.CopyStatus(next, obj)
		next.GetObjectMeta().ResourceVersion = m.ResourceVersion
	}
	if errs := api.ValidateUpdate(old, next); len(errs) > 0 {
		return nil, invalid(k, obj, errs)
	}
	if isSvc {
		if err := r.allocateService(ctx, svc, old.(*api.Service)); err != nil {
			return nil, admissionError(k, obj, err)
		}
	}
	if pc, ok := obj.(*api.PriorityClass); ok {
		r.classes.Lock()
		defer r.classes.Unlock()
		if err := r.checkSingleDefault(ctx, pc); err != nil {
			return nil, err
		}
	}
	return r.store.Update(ctx, obj, store.UpdateOptions{Subresource: subresource})
}

// Patch applies a JSON merge patch to the current object and stores the
// result, retrying if the object changes in between.
func (r *Registry) Patch(ctx context.Context, resource, namespace, name string, patch []byte, subresource string) (api.Object, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := r.store.Get(ctx, key(k, namespace, name))
		if err != nil {
			return nil, err
		}
		curJSON, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		patched, err := api.MergePatch(curJSON, patch)
		if err != nil {
			return nil, err
		}
		next := k.New()
		if err := api.DecodeInto(patched, next); err != nil {
			return nil, err
		}
		m := next.GetObjectMeta()
		if m.Name != name || (k.Namespaced && m.Namespace != namespace) {
			return nil, api.FieldErrors{api.Forbidden("metadata.name", "a patch cannot change the name or namespace")}
		}
		// Pin the version read, so a concurrent change is a conflict
		// and the patch is applied again to the new state.
		if m.ResourceVersion == "" || m.ResourceVersion != cur.GetObjectMeta().ResourceVersion {
			if m.ResourceVersion != "" {
				return nil, fmt.Errorf("%s %q: the patch asks for resourceVersion %s, the latest is %s: %w",
					k.Kind, name, m.ResourceVersion, cur.GetObjectMeta().ResourceVersion, errdefs.ErrConflict)
			}
			m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
		}
		out, err := r.Update(ctx, resource, namespace, next, subresource)
		// A conflict means another write got in first: apply the patch
		// again to the new state. Each retry follows someone's progress,
		// so this ends; the cap is a guard, not a limit to reach.
		if errdefs.IsConflict(err) && attempt < maxPatchAttempts && !patchPinsVersion(patch) {
			if werr := backoff(ctx, attempt); werr != nil {
				return nil, werr
			}
			continue
		}
		return out, err
	}
}

const maxPatchAttempts = 200

// backoff waits a little, more as attempts grow, with jitter so that
// contending patchers spread out.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	d := time.Duration(rand.Int64N(int64(min(attempt, 20))*int64(time.Millisecond)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// patchPinsVersion reports whether the patch itself sets
// metadata.resourceVersion (then a conflict is the caller's to handle).
func patchPinsVersion(patch []byte) bool {
	var p struct {
		Metadata struct {
			ResourceVersion *string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	return json.Unmarshal(patch, &p) == nil && p.Metadata.ResourceVersion != nil
}

// Delete deletes an object, or starts its graceful deletion. The store
// carries out opts.PropagationPolicy (and refuses an unknown one) in the
// same transaction as the delete; see store.Deleter. A namespace is not
// removed at once: it turns Terminating, held by api.FinalizerNamespace
// until the garbage collector has deleted everything in it.
func (r *Registry) Delete(ctx context.Context, resource, namespace, name string, opts api.DeleteOptions) (api.Object, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		return nil, fmt.Errorf("gracePeriodSeconds %d is negative: %w", *g, errdefs.ErrBadRequest)
	}
	switch k.Resource {
	case "namespaces":
		if err := namespaceDeletable(name); err != nil {
			return nil, err
		}
	case "priorityclasses":
		if err := priorityClassDeletable(name); err != nil {
			return nil, err
		}
	}
	return r.store.Delete(ctx, key(k, namespace, name), opts)
}

// namespaceDeletable refuses to delete a system namespace.
func namespaceDeletable(name string) error {
	for _, sys := range SystemNamespaces() {
		if name == sys {
			return fmt.Errorf("namespace %q is a system namespace and cannot be deleted: %w", name, errdefs.ErrForbidden)
		}
	}
	return nil
}

// Watch streams changes after opts.ResourceVersion.
func (r *Registry) Watch(ctx context.Context, resource, namespace string, opts api.ListOptions) (api.Watcher, error) {
	k, err := kindFor(resource)
	if err != nil {
		return nil, err
	}
	labels, fields, err := selectors(k, opts)
	if err != nil {
		return nil, err
	}
	var rev int64
	if opts.ResourceVersion != "" {
		rev, err = strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || rev < 0 {
			return nil, fmt.Errorf("resourceVersion %q is not a revision: %w", opts.ResourceVersion, errdefs.ErrBadRequest)
		}
	}
	return r.store.Watch(ctx, k.Resource, store.WatchOptions{
		Namespace: namespace, Labels: labels, Fields: fields, Revision: rev, BookmarkInterval: r.bookmark,
	})
}
