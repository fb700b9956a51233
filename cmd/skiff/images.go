package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"

	runtimecontainer "github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/containerd"
)

// `skiff images` works on the node's containerd directly, not through
// the server: it is how an air-gapped node is given its images. It does
// not build a containerd.Runtime: a new Runtime re-attaches to the output
// of every running container, which belongs to the agent's Runtime.

// connectTimeout bounds how long the commands wait for containerd to
// answer: it is local, so an answer takes milliseconds or never comes.
const connectTimeout = 3 * time.Second

// imagesFlags say where the node's containerd is.
type imagesFlags struct {
	socket string
	runDir string
}

func (f *imagesFlags) add(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.socket, "containerd-socket", "", "the containerd to use (default: <run-dir>/containerd/containerd.sock, the one skiff runs)")
	fl.StringVar(&f.runDir, "run-dir", "/run/skiff", "the node's runtime state directory, as given to skiff server or skiff agent")
}

// address is the containerd socket: the one given, or the one skiff's
// own containerd listens on (runNode's Supervisor, StateDir
// <run-dir>/containerd).
func (f *imagesFlags) address() string {
	if f.socket != "" {
		return f.socket
	}
	return filepath.Join(f.runDir, "containerd", "containerd.sock")
}

// connect returns a client of the node's containerd, or within a few
// seconds an error that says what is wrong: no socket, nothing listening,
// no permission, no answer.
func (f *imagesFlags) connect(ctx context.Context) (*containerdclient.Client, error) {
	addr := f.address()
	notRunning := func(what string) error {
		return fmt.Errorf("is skiff running on this machine? %s (skiff server and skiff agent run containerd there; "+
			"use --run-dir or --containerd-socket if they were started with other paths)", what)
	}
	noPermission := func() error {
		return fmt.Errorf("containerd at %s: permission denied: skiff images talks to the node's containerd, which takes root (try sudo)", addr)
	}
	st, err := os.Stat(addr)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, notRunning(fmt.Sprintf("there is no containerd socket at %s", addr))
	case errors.Is(err, fs.ErrPermission):
		return nil, noPermission()
	case err != nil:
		return nil, fmt.Errorf("containerd socket: %w", err)
	case st.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("%s is not a socket; --containerd-socket names containerd's socket", addr)
	}
	// A plain dial first, to tell a socket nobody listens on (left by a
	// skiff that was killed) from one skiff may not use.
	conn, err := net.DialTimeout("unix", addr, connectTimeout)
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		return nil, noPermission()
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, notRunning(fmt.Sprintf("nothing listens on %s", addr))
	case err != nil:
		return nil, notRunning(fmt.Sprintf("cannot reach containerd at %s: %v", addr, err))
	}
	conn.Close()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := containerd.Connect(cctx, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, notRunning(fmt.Sprintf("containerd at %s does not answer within %v", addr, connectTimeout))
	}
	return c, nil
}

func newImagesCommand(io streams) *cobra.Command {
	var f imagesFlags
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Import, list and remove the images of the node on this machine",
		Long: `Import, list and remove the container images of the node on this machine:
the images in the containerd that skiff server (its embedded agent) or
skiff agent runs, in containerd namespace "skiff". This is how an
air-gapped node gets its images: copy a tarball to the machine and import
it (a tarball dropped in <data-dir>/images/ is imported at the next start).

These commands talk to containerd's socket, not to the server: run them on
the node itself, as root.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for skiff images; use import, list or rm", args[0])
			}
			return cmd.Help()
		},
	}
	f.add(cmd)
	cmd.AddCommand(
		newImagesImportCommand(io, &f),
		newImagesListCommand(io, &f),
		newImagesRemoveCommand(io, &f),
	)
	return cmd
}

func newImagesImportCommand(io streams, f *imagesFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Import images from OCI-layout or docker-save tarballs",
		Long: `Import the images in each FILE: an OCI image layout or a docker save
tarball, plain or gzipped; - reads one from standard input. Images are
unpacked at once, so pods start from them without a registry. A tarball
is imported whole or not at all: if one of its images cannot be stored or
unpacked, none of its images changes. Prints the reference of each image
imported.`,
		Example: `  skiff images import app.tar
  docker save busybox:1.36 | ssh pi sudo skiff images import -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := countOf(args, "-"); n > 1 {
				return fmt.Errorf("- (standard input) given %d times; it holds one tarball", n)
			}
			ctx := namespaces.WithNamespace(cmd.Context(), containerd.Namespace)
			c, err := f.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			failed := 0
			for _, file := range args {
				refs, err := importFile(ctx, c, file, io.in)
				if err != nil {
					fmt.Fprintf(io.err, "error: %v\n", err)
					failed++
					continue
				}
				for _, r := range refs {
					fmt.Fprintln(io.out, r)
				}
			}
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
}

func countOf(args []string, s string) int {
	n := 0
	for _, a := range args {
		if a == s {
			n++
		}
	}
	return n
}

// importFile imports the tarball at path ("-": stdin), all or nothing
// (containerd.ImportImages), and returns the references of its images.
func importFile(ctx context.Context, c *containerdclient.Client, path string, stdin io.Reader) ([]string, error) {
	name, r := path, stdin
	if path == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	refs, err := containerd.ImportImages(ctx, c, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return refs, nil
}

// imageRow is one image as list prints it.
type imageRow struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Size is what the image's content for this platform takes, in
	// bytes; absent when its content is incomplete.
	Size *int64 `json:"size,omitempty"`
}

func newImagesListCommand(io streams, f *imagesFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the images of this node",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("-o %q: use json, or no -o for a table", output)
			}
			ctx := namespaces.WithNamespace(cmd.Context(), containerd.Namespace)
			c, err := f.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := listImageRows(ctx, c)
			if err != nil {
				return err
			}
			if output == "json" {
				b, err := json.MarshalIndent(rows, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(io.out, string(b))
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintln(io.err, "No images on this node.")
				return nil
			}
			printImageTable(io.out, rows)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json for JSON")
	return cmd
}

// listImageRows reads every image of the skiff namespace, sorted by
// reference.
func listImageRows(ctx context.Context, c *containerdclient.Client) ([]imageRow, error) {
	imgs, err := c.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	rows := make([]imageRow, 0, len(imgs))
	for _, img := range imgs {
		row := imageRow{Ref: img.Name(), Digest: img.Target().Digest.String()}
		if size, err := img.Size(ctx); err == nil {
			row.Size = &size
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b imageRow) int { return strings.Compare(a.Ref, b.Ref) })
	return rows, nil
}

func printImageTable(w io.Writer, rows []imageRow) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REF\tDIGEST\tSIZE")
	for _, r := range rows {
		size := "<unknown>"
		if r.Size != nil {
			size = humanSize(*r.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Ref, shortDigest(r.Digest), size)
	}
	tw.Flush()
}

// shortDigest is the first 12 hex digits of a digest, as docker shows
// image IDs.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// humanSize writes a byte count in decimal units with three significant
// digits, as docker images does: 512B, 4.26MB, 1.2GB.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	v, i := float64(n), 0
	for v >= 999.5 && i < len(units)-1 { // 999.5 would round to 1e+03
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", v, units[i])
}

func newImagesRemoveCommand(io streams, f *imagesFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm REF...",
		Short: "Remove images from this node",
		Long: `Remove images from this node. A REF may be short, as in a pod spec:
busybox is docker.io/library/busybox:latest. An image that a container of
this node was made from (running or not) is kept unless --force; its
containers keep running, but the agent needs the image again to make the
next one. Exits non-zero if any REF was not removed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := namespaces.WithNamespace(cmd.Context(), containerd.Namespace)
			c, err := f.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if removeImages(ctx, c, io, args, force) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove images even if containers use them")
	return cmd
}

// removeImages removes each of refs, reporting on io, and returns how
// many it did not remove.
func removeImages(ctx context.Context, c *containerdclient.Client, io streams, refs []string, force bool) int {
	cs, err := c.ContainerService().List(ctx)
	if err != nil {
		fmt.Fprintf(io.err, "error: list containers: %v\n", err)
		return len(refs)
	}
	users := map[string][]string{} // image name → who uses it
	for _, ct := range cs {
		users[ct.Image] = append(users[ct.Image], containerUser(ct.ID, ct.Labels))
	}
	is := c.ImageService()
	failed := 0
	seen := map[string]bool{}
	for _, ref := range refs {
		// As the agent spells a pod's image (runtime/agent normalizeRef).
		named, err := reference.ParseDockerRef(ref)
		if err != nil {
			fmt.Fprintf(io.err, "error: %q is not an image reference: %v\n", ref, err)
			failed++
			continue
		}
		name := named.String()
		if seen[name] {
			continue
		}
		seen[name] = true
		if _, err := is.Get(ctx, name); cerrdefs.IsNotFound(err) {
			fmt.Fprintf(io.err, "error: no image %s on this node (skiff images list shows them)\n", name)
			failed++
			continue
		} else if err != nil {
			fmt.Fprintf(io.err, "error: image %s: %v\n", name, err)
			failed++
			continue
		}
		if u := users[name]; len(u) > 0 {
			if !force {
				fmt.Fprintf(io.err, "error: image %s is in use by %s; remove those first, or pass --force\n", name, describeUsers(u))
				failed++
				continue
			}
			fmt.Fprintf(io.err, "warning: image %s was in use by %s; they keep running, but the agent needs the image again to make their next container\n", name, describeUsers(u))
		}
		if err := is.Delete(ctx, name, images.SynchronousDelete()); err != nil {
			if cerrdefs.IsNotFound(err) {
				err = errors.New("already gone")
			}
			fmt.Fprintf(io.err, "error: remove image %s: %v\n", name, err)
			failed++
			continue
		}
		fmt.Fprintf(io.out, "image %q removed\n", name)
	}
	return failed
}

// containerUser names a container by its pod when it is a pod's.
func containerUser(id string, labels map[string]string) string {
	ns, pod, name := labels[runtimecontainer.LabelPodNamespace], labels[runtimecontainer.LabelPodName], labels[runtimecontainer.LabelContainer]
	if pod == "" {
		return "container " + id
	}
	return fmt.Sprintf("pod %s/%s (container %s)", ns, pod, name)
}

// describeUsers lists users once each, at most three of them.
func describeUsers(users []string) string {
	u := slices.Clone(users)
	slices.Sort(u)
	u = slices.Compact(u)
	if len(u) > 3 {
		return strings.Join(u[:3], ", ") + fmt.Sprintf(" and %d more", len(u)-3)
	}
	return strings.Join(u, ", ")
}
