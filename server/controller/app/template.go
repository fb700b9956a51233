package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"github.com/skiffhq/skiff/server/api"
)

// The health check defaults (api.AppHealthCheck says what each means).
const (
	defaultHealthPath      = "/"
	defaultTimeoutSeconds  = 2
	defaultPeriodSeconds   = 1
	defaultDeadlineSeconds = 120
	defaultDrainSeconds    = 5
	defaultIdleMinutes     = 15
	// drainGraceSeconds is how long past the preStop sleep a stopping
	// pod gets to finish its requests before it is killed.
	drainGraceSeconds = 10
	// probeFailureThreshold is how many failed checks in a row take a
	// web pod out of its endpoints.
	probeFailureThreshold = 3
)

// minReadySeconds is how long a new web pod must stay ready before it
// counts as available, which is what lets the deployment controller stop
// an old pod and the release count as rolled out: long enough for a
// process that passes its first check and then crashes, or fails
// probeFailureThreshold checks, to be caught while the old release still
// serves. It is capped at a quarter of the deadline, so that a release
// can still roll out within it.
func minReadySeconds(h api.AppHealthCheck) int32 {
	return max(min(probeFailureThreshold*h.PeriodSeconds, h.DeadlineSeconds/4), 0)
}

// webPortName names the web container's port, which the app's Service
// targets.
const webPortName = "http"

// templateHashAnnotation holds the hash of the Deployment spec (but for
// replicas) that the controller last wrote, so that a sync compares its
// own intent and not the registry's defaulted copy of it.
const templateHashAnnotation = "skiff.dev/app-template-hash"

// healthCheck is an App's health check with the defaults filled in.
func healthCheck(a *api.App) api.AppHealthCheck {
	h := a.Spec.HealthCheck
	if h.Path == "" {
		h.Path = defaultHealthPath
	}
	if h.TimeoutSeconds == 0 {
		h.TimeoutSeconds = defaultTimeoutSeconds
	}
	if h.PeriodSeconds == 0 {
		h.PeriodSeconds = defaultPeriodSeconds
	}
	if h.DeadlineSeconds == 0 {
		h.DeadlineSeconds = defaultDeadlineSeconds
	}
	if h.DrainSeconds == 0 {
		h.DrainSeconds = defaultDrainSeconds
	}
	return h
}

// port is the PORT of app a running release r: the App's, else the
// image's single EXPOSEd one, else api.DefaultAppPort.
func port(a *api.App, r *api.Release) int32 {
	switch {
	case a.Spec.Port != 0:
		return a.Spec.Port
	case r != nil && r.Spec.Port != 0:
		return r.Spec.Port
	}
	return api.DefaultAppPort
}

// replicas is how many pods process type proc of a runs: its scale, else
// one for web and none for the others; none for web while a is idle.
func replicas(a *api.App, proc string) int32 {
	if proc == api.ProcessWeb && a.Spec.ScaleToZero != nil && a.Status.Idle {
		return 0
	}
	if n, ok := a.Spec.Scale[proc]; ok {
		return n
	}
	if proc == api.ProcessWeb {
		return 1
	}
	return 0
}

// processTypes are r's process types, sorted.
func processTypes(r *api.Release) []string {
	if r == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.Spec.Processes))
}

// selectorLabels are the labels that pick process type proc of app.
func selectorLabels(app, proc string) map[string]string {
	return map[string]string{api.LabelApp: app, api.LabelProcess: proc}
}

func controllerRef(a *api.App) []api.OwnerReference {
	return []api.OwnerReference{api.NewControllerRef(a, "skiff.dev/v1", "App")}
}

// deploymentFor is the Deployment that runs process type proc of release
// r for app a, with replicas set and the template hash annotated.
func deploymentFor(a *api.App, r *api.Release, proc string) *api.Deployment {
	p := port(a, r)
	h := healthCheck(a)
	c := api.Container{
		Name:      proc,
		Image:     r.Spec.Image,
		Env:       []api.EnvVar{{Name: "PORT", Value: strconv.Itoa(int(p))}},
		Resources: a.Spec.Resources,
	}
	if cmd := r.Spec.Processes[proc]; cmd != "" {
		c.Command = []string{"/bin/sh", "-c", cmd}
	}
	if r.Spec.Config != "" {
		c.EnvFrom = []api.EnvFromSource{{SecretRef: &api.SecretEnvSource{LocalObjectReference: api.LocalObjectReference{Name: r.Spec.Config}}}}
	}
	var grace *int64
	var minReady int32
	if proc == api.ProcessWeb {
		probePort := p
		if h.Port != 0 {
			probePort = h.Port
		}
		c.Ports = []api.ContainerPort{{Name: webPortName, ContainerPort: p, Protocol: api.ProtocolTCP}}
		c.ReadinessProbe = &api.Probe{
			ProbeHandler:     api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: h.Path, Port: api.FromInt(probePort)}},
			TimeoutSeconds:   h.TimeoutSeconds,
			PeriodSeconds:    h.PeriodSeconds,
			FailureThreshold: probeFailureThreshold,
		}
		// The pod leaves the endpoints as soon as it is deleted; the
		// sleep keeps it serving until the routers have dropped it.
		c.Lifecycle = &api.Lifecycle{PreStop: &api.LifecycleHandler{Sleep: &api.SleepAction{Seconds: int64(h.DrainSeconds)}}}
		g := int64(h.DrainSeconds) + drainGraceSeconds
		grace = &g
		minReady = minReadySeconds(h)
	}
	sel := selectorLabels(a.Name, proc)
	tmplLabels := maps.Clone(sel)
	tmplLabels[api.LabelRelease] = r.Name
	one := api.FromInt(1)
	zero := api.FromInt(0)
	deadline := h.DeadlineSeconds
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{
			Name:            api.AppDeploymentName(a.Name, proc),
			Namespace:       a.Namespace,
			Labels:          maps.Clone(sel),
			OwnerReferences: controllerRef(a),
		},
		Spec: api.DeploymentSpec{
			Selector: &api.LabelSelector{MatchLabels: sel},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: tmplLabels},
				Spec: api.PodSpec{
					Containers:                    []api.Container{c},
					TerminationGracePeriodSeconds: grace,
					NodeSelector:                  api.ReleaseNodeSelector(r),
				},
			},
			// Old pods serve until new ones are ready.
			Strategy: api.DeploymentStrategy{
				Type:          api.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero},
			},
			// A new pod that is ready only for a moment does not stop an
			// old one.
			MinReadySeconds:         minReady,
			ProgressDeadlineSeconds: &deadline,
		},
	}
	d.Annotations = map[string]string{templateHashAnnotation: specHash(&d.Spec)}
	n := replicas(a, proc)
	d.Spec.Replicas = &n
	return d
}

// specHash hashes s without its replicas.
func specHash(s *api.DeploymentSpec) string {
	c := *s
	c.Replicas = nil
	b, err := json.Marshal(&c)
	if err != nil {
		// A spec of plain fields always encodes; an empty hash only
		// makes the next sync write it again.
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// serviceFor is the Service in front of a's web process.
func serviceFor(a *api.App) *api.Service {
	sel := selectorLabels(a.Name, api.ProcessWeb)
	return &api.Service{
		ObjectMeta: api.ObjectMeta{
			Name:            a.Name,
			Namespace:       a.Namespace,
			Labels:          maps.Clone(sel),
			OwnerReferences: controllerRef(a),
		},
		Spec: api.ServiceSpec{
			Selector: sel,
			// The web container's port by name, resolved per pod: while a
			// release with another PORT rolls out (or back), each pod is
			// reached at its own.
			Ports: []api.ServicePort{{Name: "http", Protocol: api.ProtocolTCP, Port: 80, TargetPort: api.FromString(webPortName)}},
		},
	}
}

// serviceMatches reports whether the cached Service cur already routes
// what want does.
func serviceMatches(cur, want *api.Service) bool {
	if !maps.Equal(cur.Spec.Selector, want.Spec.Selector) || len(cur.Spec.Ports) != 1 {
		return false
	}
	c, w := cur.Spec.Ports[0], want.Spec.Ports[0]
	return c.Port == w.Port && c.TargetPort == w.TargetPort && c.Name == w.Name
}
