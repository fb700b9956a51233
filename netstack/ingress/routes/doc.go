// Package routes keeps the ingress router's table in step with the
// cluster: it turns every App and the Endpoints of its web Service into
// ingress Routes, and reports the requests the router sees back to the
// apps (for scale to zero).
//
//	App informer ──┐                        ┌─► Router.SetTable
//	               ├─ change ─► debounce ───┤   (every host of every app)
//	Endpoints  ────┘   (≤ 20 ms, never      └─► Ready() closed after the
//	informer            reset by more)          first full table
//
//	Router.AccessLog ─► Observe ─► last request per app ─► Touch, at most
//	                                   (off the request     once a minute
//	                                    path)               per app
//	Router.Activate  ─► Activate(app) ─► Config.Activate(namespace, app)
//
// Each App routes its default host <app>.<AppsDomain> and every
// spec.domains entry to the ready addresses of the Endpoints named after
// the app in its namespace (the app controller's web Service; terminating
// and not-ready pods are in notReadyAddresses there and get no traffic),
// at the subset's port, the web process's PORT. Route.App is the app's
// name, which is unique in the cluster: Activate and Touch look its
// namespace up. A route is Idle while app.status.idle is set, and, after
// Activate started an idle app, until its first backend is ready (or
// StartTimeout passes) even when the status no longer says idle, so that
// requests held for it wait for the pod instead of getting a 503.
//
// A host two apps claim goes to the app it is the default host of, else
// to the older App (creation time, then name); the conflict is logged
// once. An App being deleted has no routes (the Endpoints of its Service,
// being deleted with it, are no longer kept up to date), nor does an App
// use Endpoints older than itself (a deleted namesake's). An app whose
// idle status goes (whoever cleared it: Activate, or the app controller
// for a release rolling out) keeps its routes Idle until it has a ready
// backend or StartTimeout passes. A domain the router refuses is left
// out and logged once; the rest of the table is kept.
//
// The package does not write Apps itself: Touch and Activate are the
// caller's (the app controller's API calls), so that it needs no more
// than read access to Apps and Endpoints.
package routes
