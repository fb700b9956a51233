package api

import (
	"reflect"
	"testing"
)

func TestDefaultApp(t *testing.T) {
	app := decodeAs[App](t, `{"metadata": {"name": "shop", "namespace": "default"},
		"spec": {"scaleToZero": {}, "build": {"args": {"GO_VERSION": "1.26"}}}}`)
	Default(app)
	if got, want := app.TypeMeta, (TypeMeta{APIVersion: "skiff.dev/v1", Kind: "App"}); got != want {
		t.Errorf("TypeMeta = %+v, want %+v", got, want)
	}
	want := AppHealthCheck{Path: "/", TimeoutSeconds: 2, PeriodSeconds: 1, DeadlineSeconds: 120, DrainSeconds: 5}
	if got := app.Spec.HealthCheck; got != want {
		t.Errorf("spec.healthCheck = %+v, want %+v", got, want)
	}
	if got := app.Spec.ScaleToZero.IdleMinutes; got != 15 {
		t.Errorf("spec.scaleToZero.idleMinutes = %d, want 15", got)
	}
	if got := app.Spec.Build; got.Dockerfile != "" || got.Branch != "" {
		t.Errorf("spec.build = %+v: the dockerfile and branch must stay unset (Dockerfile if present; main or master)", got)
	}
	if app.Spec.Port != 0 {
		t.Errorf("spec.port = %d, want 0 (the image's port, or %d)", app.Spec.Port, DefaultAppPort)
	}

	// No scaleToZero: none is made.
	plain := &App{ObjectMeta: ObjectMeta{Name: "shop", Namespace: "default"}}
	Default(plain)
	if plain.Spec.ScaleToZero != nil {
		t.Errorf("spec.scaleToZero = %+v, want unset", plain.Spec.ScaleToZero)
	}

	// Set values stay.
	set := &App{Spec: AppSpec{
		HealthCheck: AppHealthCheck{Path: "/healthz", Port: 8080, TimeoutSeconds: 5, PeriodSeconds: 3, DeadlineSeconds: 600, DrainSeconds: 30},
		ScaleToZero: &AppScaleToZero{IdleMinutes: 60},
	}}
	before := Clone(set)
	Default(set)
	if !reflect.DeepEqual(set.Spec, before.Spec) {
		t.Errorf("Default changed set values: %+v, want %+v", set.Spec, before.Spec)
	}
}

func TestDefaultBuildAndRelease(t *testing.T) {
	b := &Build{}
	Default(b)
	if b.Status.Phase != BuildRunning || b.Kind != "Build" || b.APIVersion != "skiff.dev/v1" {
		t.Errorf("build: phase %q, %s %s, want Running, skiff.dev/v1 Build", b.Status.Phase, b.APIVersion, b.Kind)
	}
	done := &Build{Status: BuildStatus{Phase: BuildFailed}}
	Default(done)
	if done.Status.Phase != BuildFailed {
		t.Errorf("build: phase %q overwritten, want Failed", done.Status.Phase)
	}

	r := &Release{}
	Default(r)
	if r.Status.Phase != ReleasePending || r.Kind != "Release" {
		t.Errorf("release: phase %q, kind %s, want Pending, Release", r.Status.Phase, r.Kind)
	}
	live := &Release{Status: ReleaseStatus{Phase: ReleaseSucceeded}}
	Default(live)
	if live.Status.Phase != ReleaseSucceeded {
		t.Errorf("release: phase %q overwritten, want Succeeded", live.Status.Phase)
	}
}
