package api

import "strconv"

// This file holds the skiff.dev/v1 app kinds: App, Build and Release, the
// PaaS view of workloads. All three are namespaced. An App's name is unique
// in the whole cluster (it names the app's git repository and its host
// name); the server refuses a second App of the same name in another
// namespace.
//
//	git push ──► Build (source commit ──► image) ──► Release vN (image +
//	config snapshot + process types) ──► app controller: one Deployment per
//	process type, a Service for web ──► ingress routes APP.<apps domain>
//
// Releases are immutable and numbered per app; the newest Release that has
// not failed is the one the app runs. Changing config makes a new Release
// with the same image; a rollback makes a new Release with an old one's
// image and config. Changing scale or domains is an App change and makes no
// Release.

// App is one application: its build settings, process scale, domains and
// health check. Its config vars are the Secret AppConfigSecretName(name) in
// the App's namespace.
type App struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       AppSpec   `json:"spec,omitzero"`
	Status     AppStatus `json:"status,omitzero"`
}

// AppSpec is what a person sets on an App.
type AppSpec struct {
	// Build says how the app's source becomes an image.
	Build AppBuild `json:"build,omitzero"`
	// Scale is the number of pods per process type ("web": 2, "worker":
	// 1). A process type the release defines but Scale does not name runs
	// one pod if it is web and none otherwise, as on Heroku.
	Scale map[string]int32 `json:"scale,omitempty"`
	// Domains are host names the app answers on besides its default one
	// (APP.<apps domain>).
	Domains []string `json:"domains,omitempty"`
	// HealthCheck is how a new release's web pods prove they work before
	// they get traffic.
	HealthCheck AppHealthCheck `json:"healthCheck,omitzero"`
	// Port is the port the web process listens on, given to it as PORT.
	// 0: the image's single EXPOSEd port, or 5000.
	Port int32 `json:"port,omitempty"`
	// ScaleToZero, when set, stops the web pods after the app has had no
	// request for IdleMinutes; the router holds the next request while the
	// app starts.
	ScaleToZero *AppScaleToZero `json:"scaleToZero,omitempty"`
	// Resources are every process's container resources.
	Resources ResourceRequirements `json:"resources,omitzero"`
}

// AppBuild holds an App's build settings.
type AppBuild struct {
	// Dockerfile is the Dockerfile's path in the repository; default
	// "Dockerfile". Without one the app's kind is detected.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Args are build arguments (docker build --build-arg).
	Args map[string]string `json:"args,omitempty"`
	// Branch is the branch whose push deploys; default main (or master).
	Branch string `json:"branch,omitempty"`
}

// AppHealthCheck is an HTTP check of the web process.
type AppHealthCheck struct {
	// Path is requested with GET; any 2xx or 3xx passes. Default "/".
	Path string `json:"path,omitempty"`
	// Port defaults to the web process's PORT.
	Port int32 `json:"port,omitempty"`
	// TimeoutSeconds bounds one check (default 2).
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds is the time between checks (default 1).
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// DeadlineSeconds bounds a release's rollout: a release whose pods are
	// not all healthy by then fails and the previous one keeps serving
	// (default 120).
	DeadlineSeconds int32 `json:"deadlineSeconds,omitempty"`
	// DrainSeconds is how long a replaced pod keeps serving requests
	// already sent to it before it is stopped (default 5).
	DrainSeconds int32 `json:"drainSeconds,omitempty"`
}

// AppScaleToZero is the idle policy of an app scaled to zero.
type AppScaleToZero struct {
	// IdleMinutes without a request before the web pods stop (default 15).
	IdleMinutes int32 `json:"idleMinutes,omitempty"`
}

// AppStatus is what the app controller reports.
type AppStatus struct {
	// Release is the release the app runs: the newest one that rolled out.
	Release string `json:"release,omitempty"`
	// Version is Release's number.
	Version int64 `json:"version,omitempty"`
	// URLs are where the app answers, default host first.
	URLs []string `json:"urls,omitempty"`
	// Processes are the process types of Release and their pods.
	Processes []AppProcessStatus `json:"processes,omitempty"`
	// Idle is set while the app is scaled to zero.
	Idle bool `json:"idle,omitempty"`
	// LastRequest is when the router last saw a request for the app, as
	// reported at most once a minute (for scale to zero).
	LastRequest *Time `json:"lastRequest,omitempty"`
	// Conditions: Deployed (Release is running and ready), Progressing (a
	// newer release is rolling out).
	Conditions []AppCondition `json:"conditions,omitempty"`
	// ObservedGeneration is the App generation the status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// AppProcessStatus is one process type's pods.
type AppProcessStatus struct {
	Type    string `json:"type"`
	Command string `json:"command,omitempty"`
	// Replicas wanted, and how many are ready.
	Replicas      int32 `json:"replicas"`
	ReadyReplicas int32 `json:"readyReplicas"`
}

// AppCondition is one aspect of an App's state.
type AppCondition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
	LastTransitionTime *Time           `json:"lastTransitionTime,omitempty"`
}

// The App condition types.
const (
	AppDeployed    = "Deployed"
	AppProgressing = "Progressing"
)

// Build is one build of an app's source into an image. The builder
// writes its status; its log is kept on the builder node and served at
// the build's log subresource.
type Build struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       BuildSpec   `json:"spec,omitzero"`
	Status     BuildStatus `json:"status,omitzero"`
}

// BuildSpec says what to build.
type BuildSpec struct {
	App string `json:"app"`
	// Commit is the git commit built.
	Commit string `json:"commit"`
	// Ref is the ref pushed (refs/heads/main).
	Ref string `json:"ref,omitempty"`
	// Pusher is the user whose push started the build.
	Pusher string `json:"pusher,omitempty"`
}

// BuildPhase is where a Build is.
type BuildPhase string

// The build phases.
const (
	BuildRunning   BuildPhase = "Running"
	BuildSucceeded BuildPhase = "Succeeded"
	BuildFailed    BuildPhase = "Failed"
)

// BuildStatus is what the builder reports.
type BuildStatus struct {
	Phase BuildPhase `json:"phase,omitempty"`
	// Message says why a build failed.
	Message string `json:"message,omitempty"`
	// Node is where the build runs or ran: the server's node, or the
	// builder node it was sent to (the server's again if that one could
	// not take it). The log is the server's either way.
	Node string `json:"node,omitempty"`
	// Image is the image built, by digest ("name@sha256:...").
	Image string `json:"image,omitempty"`
	// Kind is "dockerfile" or the detected kind (python, node, ...).
	Kind string `json:"kind,omitempty"`
	// Processes are the process types found (Procfile, or the image's
	// command as web).
	Processes map[string]string `json:"processes,omitempty"`
	// Port is the image's single EXPOSEd port, or 0.
	Port int32 `json:"port,omitempty"`
	// Steps and CachedSteps count the build's steps and those whose
	// cached layer was reused.
	Steps       int32 `json:"steps,omitempty"`
	CachedSteps int32 `json:"cachedSteps,omitempty"`
	StartTime   *Time `json:"startTime,omitempty"`
	// CompletionTime is when the build ended, either way.
	CompletionTime *Time `json:"completionTime,omitempty"`
}

// Release is one immutable version of an app: an image, a snapshot of its
// config vars and its process types. Its name is ReleaseName(app,
// version). The app controller writes only its status.
type Release struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ReleaseSpec   `json:"spec,omitzero"`
	Status     ReleaseStatus `json:"status,omitzero"`
}

// ReleaseSpec is what a release runs. It cannot be changed.
type ReleaseSpec struct {
	App     string `json:"app"`
	Version int64  `json:"version"`
	// Image is the image by digest.
	Image string `json:"image"`
	// Build names the Build that made the image, if any.
	Build string `json:"build,omitempty"`
	// Commit is the git commit the image was built from.
	Commit string `json:"commit,omitempty"`
	// Config names the Secret holding a snapshot of the app's config vars
	// as they were when the release was made (ReleaseConfigSecretName).
	Config string `json:"config,omitempty"`
	// ConfigHash is the SHA-256 of the config snapshot, so that a change
	// shows without reading the Secret.
	ConfigHash string `json:"configHash,omitempty"`
	// Processes are the process types and their commands; "" runs the
	// image's own command.
	Processes map[string]string `json:"processes"`
	// Port is the image's single EXPOSEd port, or 0.
	Port int32 `json:"port,omitempty"`
	// Description says what made the release: "Deploy 1a2b3c4", "Set
	// FOO, BAR", "Rollback to v3".
	Description string `json:"description,omitempty"`
	// CreatedBy is the user who made the release.
	CreatedBy string `json:"createdBy,omitempty"`
}

// ReleasePhase is where a Release is.
type ReleasePhase string

// The release phases. A release is Pending until the controller starts its
// rollout, Deploying until every process type's pods are ready, then
// Succeeded; it is Failed if that did not happen within the health check's
// deadline, and Superseded if a newer release came before it finished.
const (
	ReleasePending    ReleasePhase = "Pending"
	ReleaseDeploying  ReleasePhase = "Deploying"
	ReleaseSucceeded  ReleasePhase = "Succeeded"
	ReleaseFailed     ReleasePhase = "Failed"
	ReleaseSuperseded ReleasePhase = "Superseded"
)

// ReleaseStatus is what the app controller reports.
type ReleaseStatus struct {
	Phase ReleasePhase `json:"phase,omitempty"`
	// Message says why a release failed, with the failing check's output.
	Message        string `json:"message,omitempty"`
	StartTime      *Time  `json:"startTime,omitempty"`
	CompletionTime *Time  `json:"completionTime,omitempty"`
}

// Names and labels of the objects the app kinds own.
const (
	// LabelApp is on every object made for an app: its Deployments,
	// Services, pods, Builds, Releases and config Secrets.
	LabelApp = "skiff.dev/app"
	// LabelProcess is the process type of an app's Deployment and pods.
	LabelProcess = "skiff.dev/process"
	// LabelRelease is the release a pod runs.
	LabelRelease = "skiff.dev/release"
	// DefaultAppPort is the web process's PORT when neither the App nor
	// the image says otherwise (as on Heroku and Dokku).
	DefaultAppPort = 5000
	// ProcessWeb is the process type that gets a Service and a route.
	ProcessWeb = "web"
	// AnnotationImageNode, on a Release, names the node that built its
	// image (the server's, or a builder node's); the server holds every
	// built image and other nodes fetch it from its /v2/ API. A release
	// from before images were shared (no AnnotationImageArch) still runs
	// only there (ReleaseNodeSelector).
	AnnotationImageNode = "skiff.dev/image-node"
	// LabelBuilder = "true" on a Node makes it where apps are built (the
	// first Ready one by name; none: the server's own node), natively for
	// its architecture.
	LabelBuilder = "skiff.dev/builder"
	// AnnotationImageArch, on a Release, is its built image's
	// architecture (GOARCH): its pods run only on nodes of it
	// (kubernetes.io/arch).
	AnnotationImageArch = "skiff.dev/image-arch"
	// AppImageRepository prefixes the images skiff builds: app shop's are
	// AppImageRepository + "/shop". They run only in their app's
	// namespace. The host part (skiff.local) is the server's /v2/ API
	// to the nodes.
	AppImageRepository = AppImageHost + "/apps"
	// AppImageHost is the registry host of apps' images.
	AppImageHost = "skiff.local"
	// LabelAppUID, on a built image in containerd (not in its config),
	// is the UID of the App it was built for: only that App's images are
	// served and built upon, not those a deleted app of the same name
	// left.
	LabelAppUID = "skiff.dev/app-uid"
)

// AppConfigSecretName is the name of the Secret holding app's config vars.
func AppConfigSecretName(app string) string { return "app-" + app + "-config" }

// ReleaseName is the name of app's release number version.
func ReleaseName(app string, version int64) string {
	return app + "-v" + strconv.FormatInt(version, 10)
}

// ReleaseConfigSecretName is the name of the Secret holding the config
// snapshot of release.
func ReleaseConfigSecretName(release string) string { return "release-" + release + "-config" }

// AppDeploymentName is the name of the Deployment running app's process
// type proc; the web process's Service has the app's own name.
func AppDeploymentName(app, proc string) string { return app + "-" + proc }

// ReleaseNodeSelector is where r's pods may run: nodes of its built
// image's architecture; for a release made before images were shared
// between nodes (no architecture recorded), the node that built it, as
// then; nil for an image from a registry.
func ReleaseNodeSelector(r *Release) map[string]string {
	if a := r.Annotations[AnnotationImageArch]; a != "" {
		return map[string]string{"kubernetes.io/arch": a}
	}
	if n := r.Annotations[AnnotationImageNode]; n != "" {
		return map[string]string{"kubernetes.io/hostname": n}
	}
	return nil
}
