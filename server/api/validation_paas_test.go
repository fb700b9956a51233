package api

import (
	"strings"
	"testing"
	"time"
)

// The valid app objects each case below breaks one rule of.

const (
	testCommit  = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	testDigest  = "sha256:8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
	testAppName = "shop"
)

func testApp(t *testing.T) *App {
	a := &App{
		ObjectMeta: ObjectMeta{Name: testAppName, Namespace: "default"},
		Spec: AppSpec{
			Build:       AppBuild{Dockerfile: "docker/web.Dockerfile", Args: map[string]string{"NODE_ENV": "production", "_X": ""}, Branch: "release/v2"},
			Scale:       map[string]int32{"web": 2, "worker": 1, "release_tasks-2": 0, "Clock": MaxAppScale},
			Domains:     []string{"shop.example.com", "*.shop.example.org", "xn--bcher-kva.example"},
			HealthCheck: AppHealthCheck{Path: "/healthz?full=1", Port: 8081},
			Port:        8080,
			ScaleToZero: &AppScaleToZero{},
			Resources:   ResourceRequirements{Limits: ResourceList{ResourceMemory: mustQuantity(t, "256Mi")}},
		},
	}
	Default(a)
	return a
}

func testBuild() *Build {
	b := &Build{
		ObjectMeta: ObjectMeta{Name: "shop-1a2b3c4", Namespace: "default", Labels: map[string]string{LabelApp: testAppName}},
		Spec:       BuildSpec{App: testAppName, Commit: testCommit, Ref: "refs/heads/main", Pusher: "ada"},
		Status: BuildStatus{Phase: BuildSucceeded, Node: "pi-1", Image: "127.0.0.1:5000/default/shop@" + testDigest,
			Kind: "dockerfile", Processes: map[string]string{"web": "", "worker": "bin/worker"}, Port: 3000, Steps: 7, CachedSteps: 5},
	}
	Default(b)
	return b
}

func testRelease() *Release {
	name := ReleaseName(testAppName, 3)
	r := &Release{
		ObjectMeta: ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{LabelApp: testAppName}},
		Spec: ReleaseSpec{
			App: testAppName, Version: 3, Image: "127.0.0.1:5000/default/shop@" + testDigest,
			Build: "shop-1a2b3c4", Commit: testCommit, Config: ReleaseConfigSecretName(name),
			ConfigHash: strings.Repeat("ab", 32), Processes: map[string]string{"web": "", "worker": "bin/worker"},
			Port: 3000, Description: "Deploy 1a2b3c4", CreatedBy: "ada",
		},
	}
	Default(r)
	return r
}

func TestValidateAppKindsValid(t *testing.T) {
	minimal := &App{ObjectMeta: ObjectMeta{Name: "a", Namespace: "default"}}
	undefaulted := &App{ObjectMeta: ObjectMeta{Name: "a", Namespace: "default"}, Spec: AppSpec{ScaleToZero: &AppScaleToZero{}}}
	sha256Build := testBuild()
	sha256Build.Spec.Commit = strings.Repeat("0f", 32)
	Default(minimal)
	for _, obj := range []Object{testApp(t), minimal, undefaulted, testBuild(), sha256Build, testRelease()} {
		if errs := Validate(obj); len(errs) > 0 {
			t.Errorf("Validate(%T %s) = %v, want no errors", obj, obj.GetObjectMeta().Name, errs)
		}
	}
}

func TestValidateApp(t *testing.T) {
	app := func(f func(a *App)) Object { a := testApp(t); f(a); return a }
	runValidationCases(t, []validationCase{
		// The name is a DNS label: a host name label and a repository name.
		{"dotted name", app(func(a *App) { a.Name = "shop.v2" }), []string{"metadata.name"}},
		{"upper-case name", app(func(a *App) { a.Name = "Shop" }), []string{"metadata.name"}},
		{"name of 63", app(func(a *App) { a.Name = strings.Repeat("a", 63) }), nil},
		{"name of 64", app(func(a *App) { a.Name = strings.Repeat("a", 64) }), []string{"metadata.name"}},
		{"no namespace", app(func(a *App) { a.Namespace = "" }), []string{"metadata.namespace"}},

		{"scale key with a space", app(func(a *App) { a.Spec.Scale["web 2"] = 1 }), []string{"spec.scale[web 2]"}},
		{"scale key with a dot", app(func(a *App) { a.Spec.Scale["web.2"] = 1 }), []string{"spec.scale[web.2]"}},
		{"scale key with a colon", app(func(a *App) { a.Spec.Scale["web:"] = 1 }), []string{"spec.scale[web:]"}},
		{"empty scale key", app(func(a *App) { a.Spec.Scale[""] = 1 }), []string{"spec.scale[]"}},
		{"scale key too long", app(func(a *App) { a.Spec.Scale[strings.Repeat("w", 64)] = 1 }), []string{"spec.scale[" + strings.Repeat("w", 64) + "]"}},
		{"negative scale", app(func(a *App) { a.Spec.Scale["worker"] = -1 }), []string{"spec.scale[worker]"}},
		{"scale over 1000", app(func(a *App) { a.Spec.Scale["web"] = MaxAppScale + 1 }), []string{"spec.scale[web]"}},

		{"empty domain", app(func(a *App) { a.Spec.Domains[1] = "" }), []string{"spec.domains[1]"}},
		{"upper-case domain", app(func(a *App) { a.Spec.Domains[0] = "Shop.example.com" }), []string{"spec.domains[0]"}},
		{"domain with a port", app(func(a *App) { a.Spec.Domains[0] = "shop.example.com:443" }), []string{"spec.domains[0]"}},
		{"domain with a trailing dot", app(func(a *App) { a.Spec.Domains[0] = "shop.example.com." }), []string{"spec.domains[0]"}},
		{"domain as a URL", app(func(a *App) { a.Spec.Domains[0] = "https://shop.example.com" }), []string{"spec.domains[0]"}},
		{"two wildcards", app(func(a *App) { a.Spec.Domains[1] = "*.*.example.org" }), []string{"spec.domains[1]"}},
		{"wildcard inside a label", app(func(a *App) { a.Spec.Domains[1] = "shop-*.example.org" }), []string{"spec.domains[1]"}},
		{"wildcard not first", app(func(a *App) { a.Spec.Domains[1] = "shop.*.example.org" }), []string{"spec.domains[1]"}},
		{"wildcard alone", app(func(a *App) { a.Spec.Domains[1] = "*" }), []string{"spec.domains[1]"}},
		{"wildcard and nothing", app(func(a *App) { a.Spec.Domains[1] = "*." }), []string{"spec.domains[1]"}},
		{"duplicate domain", app(func(a *App) { a.Spec.Domains[2] = a.Spec.Domains[0] }), []string{"spec.domains[2]"}},

		{"health check path without /", app(func(a *App) { a.Spec.HealthCheck.Path = "healthz" }), []string{"spec.healthCheck.path"}},
		{"health check path with a space", app(func(a *App) { a.Spec.HealthCheck.Path = "/health check" }), []string{"spec.healthCheck.path"}},
		{"health check port 0 is the web port", app(func(a *App) { a.Spec.HealthCheck.Port = 0 }), nil},
		{"health check port negative", app(func(a *App) { a.Spec.HealthCheck.Port = -1 }), []string{"spec.healthCheck.port"}},
		{"health check port too big", app(func(a *App) { a.Spec.HealthCheck.Port = 65536 }), []string{"spec.healthCheck.port"}},
		{"negative timeout", app(func(a *App) { a.Spec.HealthCheck.TimeoutSeconds = -1 }), []string{"spec.healthCheck.timeoutSeconds"}},
		{"negative period", app(func(a *App) { a.Spec.HealthCheck.PeriodSeconds = -1 }), []string{"spec.healthCheck.periodSeconds"}},
		{"negative deadline", app(func(a *App) { a.Spec.HealthCheck.DeadlineSeconds = -5 }), []string{"spec.healthCheck.deadlineSeconds"}},
		{"negative drain", app(func(a *App) { a.Spec.HealthCheck.DrainSeconds = -1 }), []string{"spec.healthCheck.drainSeconds"}},
		{"deadline of an hour", app(func(a *App) { a.Spec.HealthCheck.DeadlineSeconds = 3600 }), nil},
		{"deadline over an hour", app(func(a *App) { a.Spec.HealthCheck.DeadlineSeconds = 3601 }), []string{"spec.healthCheck.deadlineSeconds"}},

		{"port 0 is the image's", app(func(a *App) { a.Spec.Port = 0 }), nil},
		{"port negative", app(func(a *App) { a.Spec.Port = -80 }), []string{"spec.port"}},
		{"port too big", app(func(a *App) { a.Spec.Port = 70000 }), []string{"spec.port"}},

		{"idle a week", app(func(a *App) { a.Spec.ScaleToZero.IdleMinutes = MaxIdleMinutes }), nil},
		{"idle over a week", app(func(a *App) { a.Spec.ScaleToZero.IdleMinutes = MaxIdleMinutes + 1 }), []string{"spec.scaleToZero.idleMinutes"}},
		{"idle negative", app(func(a *App) { a.Spec.ScaleToZero.IdleMinutes = -1 }), []string{"spec.scaleToZero.idleMinutes"}},

		{"build arg with a dash", app(func(a *App) { a.Spec.Build.Args["NODE-ENV"] = "x" }), []string{"spec.build.args[NODE-ENV]"}},
		{"build arg starting with a digit", app(func(a *App) { a.Spec.Build.Args["1X"] = "x" }), []string{"spec.build.args[1X]"}},
		{"empty build arg", app(func(a *App) { a.Spec.Build.Args[""] = "x" }), []string{"spec.build.args[]"}},
		{"dockerfile unset", app(func(a *App) { a.Spec.Build.Dockerfile = "" }), nil},
		{"dockerfile absolute", app(func(a *App) { a.Spec.Build.Dockerfile = "/etc/passwd" }), []string{"spec.build.dockerfile"}},
		{"dockerfile outside", app(func(a *App) { a.Spec.Build.Dockerfile = "../Dockerfile" }), []string{"spec.build.dockerfile"}},
		{"dockerfile through ..", app(func(a *App) { a.Spec.Build.Dockerfile = "docker/../../Dockerfile" }), []string{"spec.build.dockerfile"}},
		{"dockerfile ..", app(func(a *App) { a.Spec.Build.Dockerfile = ".." }), []string{"spec.build.dockerfile"}},
		{"dockerfile not clean", app(func(a *App) { a.Spec.Build.Dockerfile = "./Dockerfile" }), []string{"spec.build.dockerfile"}},
		{"dockerfile with //", app(func(a *App) { a.Spec.Build.Dockerfile = "docker//Dockerfile" }), []string{"spec.build.dockerfile"}},
		{"dockerfile a directory", app(func(a *App) { a.Spec.Build.Dockerfile = "." }), []string{"spec.build.dockerfile"}},
		{"dockerfile with dots in a name", app(func(a *App) { a.Spec.Build.Dockerfile = "web..Dockerfile" }), nil},
		{"branch a ref", app(func(a *App) { a.Spec.Build.Branch = "refs/heads/main" }), []string{"spec.build.branch"}},
		{"branch with a space", app(func(a *App) { a.Spec.Build.Branch = "my branch" }), []string{"spec.build.branch"}},
		{"branch with ..", app(func(a *App) { a.Spec.Build.Branch = "a..b" }), []string{"spec.build.branch"}},
		{"branch starting with -", app(func(a *App) { a.Spec.Build.Branch = "-f" }), []string{"spec.build.branch"}},
		{"branch ending in .lock", app(func(a *App) { a.Spec.Build.Branch = "main.lock" }), []string{"spec.build.branch"}},

		{"bad resource", app(func(a *App) { a.Spec.Resources.Limits["gpu"] = mustQuantity(t, "1") }), []string{"spec.resources.limits[gpu]"}},
		{"request over limit", app(func(a *App) {
			a.Spec.Resources.Requests = ResourceList{ResourceMemory: mustQuantity(t, "1Gi")}
		}), []string{"spec.resources.requests[memory]"}},
	})
}

func TestValidateBuild(t *testing.T) {
	build := func(f func(b *Build)) Object { b := testBuild(); f(b); return b }
	runValidationCases(t, []validationCase{
		{"no app", build(func(b *Build) { b.Spec.App = "" }), []string{"spec.app"}},
		{"app not a label", build(func(b *Build) { b.Spec.App = "shop.v2" }), []string{"spec.app"}},
		{"no commit", build(func(b *Build) { b.Spec.Commit = "" }), []string{"spec.commit"}},
		{"short commit", build(func(b *Build) { b.Spec.Commit = testCommit[:7] }), []string{"spec.commit"}},
		{"commit of 41", build(func(b *Build) { b.Spec.Commit = testCommit + "0" }), []string{"spec.commit"}},
		{"upper-case commit", build(func(b *Build) { b.Spec.Commit = strings.ToUpper(testCommit) }), []string{"spec.commit"}},
		{"commit not hex", build(func(b *Build) { b.Spec.Commit = strings.Repeat("g", 40) }), []string{"spec.commit"}},
		{"commit a branch", build(func(b *Build) { b.Spec.Commit = "main" }), []string{"spec.commit"}},
		{"unknown phase", build(func(b *Build) { b.Status.Phase = "Done" }), []string{"status.phase"}},
		{"failed", build(func(b *Build) { b.Status.Phase = BuildFailed }), nil},
		{"bad port", build(func(b *Build) { b.Status.Port = 65536 }), []string{"status.port"}},
		{"bad process type", build(func(b *Build) { b.Status.Processes["web worker"] = "x" }), []string{"status.processes[web worker]"}},
		{"bad name", build(func(b *Build) { b.Name = "Shop_1" }), []string{"metadata.name"}},
	})
}

func TestValidateRelease(t *testing.T) {
	release := func(f func(r *Release)) Object { r := testRelease(); f(r); return r }
	runValidationCases(t, []validationCase{
		{"name not app-vN", release(func(r *Release) { r.Name = "shop-3" }), []string{"metadata.name"}},
		{"name of another version", release(func(r *Release) { r.Name = ReleaseName(testAppName, 4) }), []string{"metadata.name"}},
		{"name of another app", release(func(r *Release) { r.Name = ReleaseName("cart", 3) }), []string{"metadata.name"}},
		{"generated name", release(func(r *Release) { r.Name, r.GenerateName = "", "shop-v" }), []string{"metadata.name"}},
		{"version and name 10", release(func(r *Release) { r.Spec.Version, r.Name = 10, ReleaseName(testAppName, 10) }), nil},
		{"no app", release(func(r *Release) { r.Spec.App = "" }), []string{"spec.app"}},
		{"app not a label", release(func(r *Release) { r.Spec.App, r.Name = "Shop", "Shop-v3" }), []string{"spec.app", "metadata.name"}},
		{"version 0", release(func(r *Release) { r.Spec.Version, r.Name = 0, ReleaseName(testAppName, 0) }), []string{"spec.version"}},
		{"version negative", release(func(r *Release) { r.Spec.Version = -1 }), []string{"spec.version"}},
		{"no image", release(func(r *Release) { r.Spec.Image = "" }), []string{"spec.image"}},
		{"no processes", release(func(r *Release) { r.Spec.Processes = nil }), []string{"spec.processes"}},
		{"empty processes", release(func(r *Release) { r.Spec.Processes = map[string]string{} }), []string{"spec.processes"}},
		{"bad process type", release(func(r *Release) { r.Spec.Processes["web/2"] = "x" }), []string{"spec.processes[web/2]"}},
		{"process types as a Procfile has them", release(func(r *Release) { r.Spec.Processes["Release_Tasks-1"] = "x" }), nil},
		{"port 0", release(func(r *Release) { r.Spec.Port = 0 }), nil},
		{"port 65535", release(func(r *Release) { r.Spec.Port = 65535 }), nil},
		{"port negative", release(func(r *Release) { r.Spec.Port = -1 }), []string{"spec.port"}},
		{"port too big", release(func(r *Release) { r.Spec.Port = 65536 }), []string{"spec.port"}},
		{"unknown phase", release(func(r *Release) { r.Status.Phase = "Running" }), []string{"status.phase"}},
		{"superseded", release(func(r *Release) { r.Status.Phase = ReleaseSuperseded }), nil},
		{"no config", release(func(r *Release) { r.Spec.Config = "" }), nil},
		{"config not a secret name", release(func(r *Release) { r.Spec.Config = "Release Config" }), []string{"spec.config"}},
		{"short commit", release(func(r *Release) { r.Spec.Commit = "1a2b3c4" }), []string{"spec.commit"}},
		{"no commit", release(func(r *Release) { r.Spec.Commit = "" }), nil},
		{"build not a name", release(func(r *Release) { r.Spec.Build = "shop 1" }), []string{"spec.build"}},
	})
}

func TestValidateUpdateAppKinds(t *testing.T) {
	created := NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	type pair struct{ old, new Object }
	update := func(old Object, f func(o Object)) pair {
		m := old.GetObjectMeta()
		m.UID, m.CreationTimestamp = "uid-1", created
		n := Clone(old)
		f(n)
		return pair{old, n}
	}
	tests := []struct {
		name string
		pair pair
		want []string
	}{
		{"app: spec changes", update(testApp(t), func(o Object) {
			a := o.(*App)
			a.Spec.Scale["web"] = 5
			a.Spec.Domains = append(a.Spec.Domains, "www.example.com")
			a.Spec.Build.Dockerfile = ""
			a.Spec.HealthCheck.Path = "/"
			a.Spec.ScaleToZero = nil
		}), nil},
		{"app: status changes", update(testApp(t), func(o Object) {
			o.(*App).Status = AppStatus{Release: "shop-v3", Version: 3, URLs: []string{"http://shop.apps.local"}}
		}), nil},
		{"app: rename", update(testApp(t), func(o Object) { o.(*App).Name = "cart" }), []string{"metadata.name"}},
		{"app: move", update(testApp(t), func(o Object) { o.(*App).Namespace = "other" }), []string{"metadata.namespace"}},

		{"build: status changes", update(testBuild(), func(o Object) {
			b := o.(*Build)
			b.Status.Phase, b.Status.Message, b.Status.Image = BuildFailed, "step 3: exit 1", ""
		}), nil},
		{"build: labels change", update(testBuild(), func(o Object) { o.(*Build).Labels["x"] = "y" }), nil},
		{"build: commit changes", update(testBuild(), func(o Object) { o.(*Build).Spec.Commit = strings.Repeat("0", 40) }), []string{"spec.commit"}},
		{"build: app and pusher change", update(testBuild(), func(o Object) {
			o.(*Build).Spec.App, o.(*Build).Spec.Pusher = "cart", "bob"
		}), []string{"spec.app", "spec.pusher"}},

		{"release: status changes", update(testRelease(), func(o Object) {
			r := o.(*Release)
			r.Status.Phase, r.Status.Message = ReleaseFailed, "web: GET /healthz: 500"
		}), nil},
		{"release: image changes", update(testRelease(), func(o Object) { o.(*Release).Spec.Image = "busybox" }), []string{"spec.image"}},
		{"release: description changes", update(testRelease(), func(o Object) { o.(*Release).Spec.Description = "x" }), []string{"spec.description"}},
		{"release: process added", update(testRelease(), func(o Object) { o.(*Release).Spec.Processes["clock"] = "bin/clock" }), []string{"spec.processes[clock]"}},
		{"release: process command changed", update(testRelease(), func(o Object) { o.(*Release).Spec.Processes["web"] = "bin/web" }), []string{"spec.processes[web]"}},
		{"release: renumbered", update(testRelease(), func(o Object) {
			r := o.(*Release)
			r.Spec.Version, r.Name = 4, ReleaseName(testAppName, 4)
		}), []string{"spec.version", "metadata.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldPaths(t, ValidateUpdate(tt.pair.old, tt.pair.new), tt.want)
		})
	}

	// The message says what to do.
	old := testRelease()
	n := Clone(old)
	n.Spec.Image = "busybox"
	errs := ValidateUpdate(old, n)
	if want := "spec.image: field is immutable: a release never changes; make a new release"; errs.Error() != want {
		t.Errorf("release update: %q, want %q", errs.Error(), want)
	}
	if len(errs) != 1 || errs[0].Type != FieldInvalid {
		t.Errorf("release update: %v, want one FieldValueInvalid", errs)
	}
}

func TestDecodeUnknownFieldsAppKinds(t *testing.T) {
	for _, tc := range []struct {
		in      string
		unknown []string
	}{
		{`{"apiVersion":"skiff.dev/v1","kind":"App","metadata":{"name":"shop","namespace":"default"},
		   "spec":{"scale":{"web":2},"healthcheck":{},"healthCheck":{"path":"/","timeout":3},"build":{"dockerFile":"x"},"scaleToZero":{"idleMinutes":5,"idle":1}}}`,
			[]string{"spec.healthcheck", "spec.healthCheck.timeout", "spec.build.dockerFile", "spec.scaleToZero.idle"}},
		{`{"apiVersion":"skiff.dev/v1","kind":"Build","metadata":{"name":"b"},"spec":{"app":"shop","commit":"x","sha":"y"},"status":{"phase":"Running","log":""}}`,
			[]string{"spec.sha", "status.log"}},
		{`{"apiVersion":"skiff.dev/v1","kind":"Release","metadata":{"name":"shop-v1"},
		   "spec":{"app":"shop","version":1,"image":"x","processes":{"web":""},"env":{"A":"b"}},"status":{"phase":"Pending","ready":true}}`,
			[]string{"spec.env", "status.ready"}},
	} {
		obj, err := Decode([]byte(tc.in))
		got := fieldsOf(t, err)
		for _, want := range tc.unknown {
			if got[want] != FieldUnknown {
				t.Errorf("%T: unknown field %s not reported (got %v)", obj, want, got)
			}
		}
		if len(got) != len(tc.unknown) {
			t.Errorf("%T: reported %v, want only %q", obj, got, tc.unknown)
		}
		if obj == nil || obj.GetObjectMeta().Name == "" {
			t.Errorf("with only unknown fields the object should still be filled: %#v", obj)
		}
	}
	// The known fields land where they belong.
	obj, err := Decode([]byte(`{"apiVersion":"skiff.dev/v1","kind":"Release","metadata":{"name":"shop-v1","namespace":"default"},
	  "spec":{"app":"shop","version":1,"image":"x@` + testDigest + `","processes":{"web":"","worker":"bin/w"},"port":3000}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := obj.(*Release)
	if !ok || r.Spec.Version != 1 || r.Spec.Processes["worker"] != "bin/w" || r.Spec.Port != 3000 {
		t.Errorf("decoded %#v", obj)
	}
}

func TestSelectableFieldsAppKinds(t *testing.T) {
	for _, tc := range []struct {
		obj  Object
		want map[string]string
	}{
		{testBuild(), map[string]string{"spec.app": testAppName, "status.phase": "Succeeded", "metadata.name": "shop-1a2b3c4"}},
		{testRelease(), map[string]string{"spec.app": testAppName, "status.phase": "Pending", "metadata.namespace": "default"}},
		{testApp(t), map[string]string{"metadata.name": testAppName, "metadata.namespace": "default"}},
	} {
		got := SelectableFields(tc.obj)
		for k, want := range tc.want {
			if v, ok := got[k]; !ok || v != want {
				t.Errorf("%T: SelectableFields[%q] = %q (present %v), want %q", tc.obj, k, v, ok, want)
			}
		}
	}
}
