package testimages

// Registry is the made-up registry host every test image is named under.
const Registry = "skiff.test"

// Ref is the full reference of the test image with the short name name,
// such as Ref("busybox") = "skiff.test/busybox:latest".
func Ref(name string) string { return Registry + "/" + name + ":latest" }

// Spec describes one test image: what its config says. All images share
// the one root filesystem layer.
type Spec struct {
	// Name is the short name; the image is Ref(Name).
	Name string
	// Entrypoint and Cmd are the config's, as in a Dockerfile.
	Entrypoint []string
	Cmd        []string
	// Env is added after PATH=/bin:/usr/bin.
	Env []string
	// ExposedPorts are "8080/tcp" and the like.
	ExposedPorts []string
	// WorkingDir is the process's directory; "" means /.
	WorkingDir string
	// Busybox is the busybox binary to put in the layer; "" means
	// /bin/busybox.
	Busybox string
	// Architecture and Variant are the image's platform; "" means the
	// platform this program was built for (see Platform).
	Architecture string
	Variant      string
}

// Images is the standard set, the images Build writes.
func Images() []Spec {
	return []Spec{
		// A general image: a shell and the applets.
		{Name: "busybox", Cmd: []string{"sh"}},
		// A process that does nothing for an hour. It is plain sleep, not
		// a shell trapping TERM: as PID 1 of its pid namespace it ignores
		// SIGTERM (the kernel drops signals PID 1 has no handler for), so
		// stopping it takes the grace period and then SIGKILL, as many
		// real images do.
		{Name: "sleep", Cmd: []string{"sleep", "3600"}},
		// An HTTP server on 8080 serving "hello from skiff" at / and "ok"
		// at /healthz.
		{Name: "httpd", Cmd: []string{"httpd", "-f", "-v", "-p", "8080", "-h", "/www"}, ExposedPorts: []string{"8080/tcp"}},
		// Exits at once with the code in $EXIT_CODE (default 1).
		{Name: "exit", Entrypoint: []string{"sh", "-c", "exit ${EXIT_CODE:-1}"}},
		// An HTTP server on 8080 whose / answers but whose /healthz is
		// 404, so an httpGet probe on /healthz fails.
		{Name: "badprobe", Cmd: []string{"httpd", "-f", "-v", "-p", "8080", "-h", "/www-nohealthz"}, ExposedPorts: []string{"8080/tcp"}},
	}
}
