// Package container holds the runtime-neutral words the node agent and a
// container runtime speak: the container the agent asks for (Spec), what
// the runtime reports of one (Status), and what it tells as it happens
// (Event). It holds no behaviour: runtime/containerd implements a runtime
// with these types, runtime/agent decides what to run with them, and
// runtime/container/containertest is an in-memory runtime for tests.
package container

import (
	"context"
	"io"
	"time"
)

// Labels every skiff container carries in containerd, so that an agent
// that restarts can tell whose container it is without any state of its
// own.
const (
	LabelPodUID       = "skiff.io/pod-uid"
	LabelPodName      = "skiff.io/pod-name"
	LabelPodNamespace = "skiff.io/pod-namespace"
	LabelContainer    = "skiff.io/container"
	LabelAttempt      = "skiff.io/attempt"
	LabelInit         = "skiff.io/init" // "true" for init containers
	LabelSpecHash     = "skiff.io/spec-hash"
)

// Spec is one run (attempt) of one container of a pod, fully resolved by
// the agent: environment values looked up, volumes made into host paths.
// The runtime turns it into an OCI spec and starts nothing else.
type Spec struct {
	// ID is the runtime's name for this run; the agent derives it from
	// pod UID, container name and attempt, so a create retried after a
	// crash finds the container it already made.
	ID string
	// Pod is who the container belongs to (stored as labels).
	Pod PodRef
	// Name is the container's name in the pod spec.
	Name string
	// Attempt counts runs of this container: 0 first, +1 per restart.
	Attempt int
	Init    bool
	// SpecHash identifies the pod spec's container this run came from; a
	// changed hash means the container must be replaced.
	SpecHash string

	// Image is the image reference, already present (see ImageService).
	Image string
	// Command replaces the image's entrypoint when set; Args replace its
	// cmd when set (Kubernetes' rules: Command without Args drops the
	// image's cmd).
	Command    []string
	Args       []string
	Env        []string // "NAME=value", applied over the image's
	WorkingDir string
	Hostname   string
	TTY        bool
	Stdin      bool

	// NetNSPath is the pinned network namespace to join; "" means the
	// host's network.
	NetNSPath string
	// CgroupParent is the pod's cgroup (a path such as /skiff/pod<uid>);
	// the container's cgroup is made under it.
	CgroupParent string
	Mounts       []Mount
	Resources    Resources
	Security     Security

	// LogPath is the file the container's stdout and stderr go to, one
	// CRI-format line each ("<RFC3339Nano> stdout F text").
	LogPath string
}

// PodRef names the pod a container belongs to.
type PodRef struct {
	UID, Namespace, Name string
}

// Mount bind-mounts a host path (a file or a directory) into the container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Resources are what the runtime enforces. Zero means no limit.
type Resources struct {
	MemoryLimit int64 // bytes
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   uint64
	PidsLimit   int64
}

// Security is the container's process identity and privileges.
type Security struct {
	// User and Group override the image's; nil keeps the image's user.
	User               *int64
	Group              *int64
	SupplementalGroups []int64
	ReadOnlyRootFS     bool
	Privileged         bool
	// CapAdd and CapDrop change the default set ("NET_ADMIN", or "ALL"
	// to drop everything), without the CAP_ prefix.
	CapAdd, CapDrop []string
	// AllowPrivilegeEscalation false (the default) sets no_new_privs.
	AllowPrivilegeEscalation bool
}

// State is where a container is in its life.
type State string

// The container states.
const (
	StateCreated State = "Created"
	StateRunning State = "Running"
	StateExited  State = "Exited"
	StateUnknown State = "Unknown"
)

// Status is what the runtime knows of one container.
type Status struct {
	ID       string
	Pod      PodRef
	Name     string
	Attempt  int
	Init     bool
	SpecHash string
	State    State
	// PID of the container's first process while it runs.
	PID        uint32
	ExitCode   int32
	OOMKilled  bool
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Image      string // the reference it was made from
	ImageID    string // the image's digest, "sha256:…"
	LogPath    string
}

// EventType says what happened to a container.
type EventType string

// The event types.
const (
	EventStarted EventType = "Started"
	EventExited  EventType = "Exited"
	EventOOM     EventType = "OOM"
	EventDeleted EventType = "Deleted"
)

// Event is something the runtime saw happen to a container. Events are
// hints to look again: the agent re-reads Status and never relies on
// seeing every event.
type Event struct {
	Type        EventType
	ContainerID string
	PodUID      string
}

// Image is an image the runtime holds.
type Image struct {
	Ref    string
	ID     string // digest of its config/manifest, "sha256:…"
	Size   int64
	Config ImageConfig
}

// ImageConfig is what an image says about running it.
type ImageConfig struct {
	Entrypoint, Cmd []string
	Env             []string
	WorkingDir      string
	User            string
}

// PullAuth is a registry credential for one pull.
type PullAuth struct {
	Username, Password string
	// IdentityToken is an OAuth2 refresh token some registries hand out.
	IdentityToken string
}

// PullProgress reports a pull: bytes done of total so far (total grows as
// layers are discovered).
type PullProgress struct {
	Ref         string
	Done, Total int64
}

// ExecSpec is a command run in a running container.
type ExecSpec struct {
	Command []string
	TTY     bool
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer // unused with TTY: the terminal joins both
	// Resize delivers terminal sizes while the command runs.
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }

// Runtime is everything the agent asks of a container runtime.
type Runtime interface {
	ContainerService
	ImageService
}

// ContainerService makes, runs and removes containers.
type ContainerService interface {
	// Create makes the container (not started). Creating an ID that
	// exists returns an error satisfying errdefs.IsAlreadyExists from
	// server/api/errdefs.
	Create(ctx context.Context, spec Spec) error
	Start(ctx context.Context, id string) error
	// Stop sends SIGTERM, waits up to grace, then SIGKILLs; it returns
	// once the container has exited. Stopping an exited one is a no-op.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes an exited container and its task; a running one is
	// killed first.
	Remove(ctx context.Context, id string) error
	// List returns every skiff container on the node, with fresh state.
	List(ctx context.Context) ([]Status, error)
	// Inspect is one container's status; errdefs.ErrNotFound if gone.
	Inspect(ctx context.Context, id string) (Status, error)
	// Exec runs a command in a running container and returns its exit
	// code once it ends (or ctx ends: the command is then killed).
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)
	// Events streams container events until ctx ends. The channel closes
	// when the stream breaks (for example containerd restarted): the
	// caller relists and subscribes again.
	Events(ctx context.Context) (<-chan Event, error)
}

// ImageService holds images.
type ImageService interface {
	// GetImage returns a present image; errdefs.ErrNotFound if absent.
	GetImage(ctx context.Context, ref string) (Image, error)
	// Pull fetches and unpacks an image, reporting progress if progress
	// is not nil.
	Pull(ctx context.Context, ref string, auth *PullAuth, progress func(PullProgress)) (Image, error)
	ListImages(ctx context.Context) ([]Image, error)
	RemoveImage(ctx context.Context, ref string) error
}
