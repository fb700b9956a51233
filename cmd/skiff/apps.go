package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// The app commands: the PaaS view (Heroku's and Dokku's verbs) over the
// App, Build and Release kinds and the server's app routes.

// appFlags are the client flags plus -a APP.
type appFlags struct {
	clientFlags
	app string
}

func (f *appFlags) add(cmd *cobra.Command) {
	f.clientFlags.add(cmd)
	cmd.Flags().StringVarP(&f.app, "app", "a", "", "the app")
}

// name is the app named by -a or the first argument (taken off args).
func (f *appFlags) name(args *[]string) (string, error) {
	if f.app != "" {
		return f.app, nil
	}
	if len(*args) > 0 && !strings.Contains((*args)[0], "=") {
		n := (*args)[0]
		*args = (*args)[1:]
		return n, nil
	}
	return "", errors.New("name the app: -a APP")
}

// open resolves the app (-a, or the first argument, taken off args) and
// connects to the server.
func (f *appFlags) open(args []string) (string, []string, *client.HTTP, error) {
	name, err := f.name(&args)
	if err != nil {
		return "", nil, nil, err
	}
	b, err := f.backend()
	return name, args, b, err
}

func newAppsCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "apps", Short: "Create, list, inspect, roll back and destroy apps"}
	cmd.AddCommand(newAppsCreateCommand(io), newAppsListCommand(io), newAppsInfoCommand(io),
		newAppsDestroyCommand(io), newAppsRollbackCommand(io))
	return cmd
}

func newAppsCreateCommand(io streams) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an app (then: skiff git-remote NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			a, err := client.For[*api.App](b, f.namespace).Create(cmd.Context(), &api.App{ObjectMeta: api.ObjectMeta{Name: args[0], Namespace: f.namespace}})
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "app/%s created in namespace %s\n", a.Name, a.Namespace)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newAppsListCommand(io streams) *cobra.Command {
	var f clientFlags
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List apps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			ns := f.namespace
			if all {
				ns = ""
			}
			list, _, _, err := client.For[*api.App](b, ns).List(cmd.Context(), api.ListOptions{})
			if err != nil {
				return err
			}
			return printList(io.out, "App", list, all, output)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "apps of every namespace")
	return cmd
}

func newAppsInfoCommand(io streams) *cobra.Command {
	var f appFlags
	var output string
	cmd := &cobra.Command{
		Use:   "info APP",
		Short: "Show an app: release, processes, URLs",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := f.open(args)
			if err != nil {
				return err
			}
			a, err := client.For[*api.App](b, f.namespace).Get(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output != "" {
				return writeEncoded(io.out, a, output)
			}
			w := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "Name:\t%s\nNamespace:\t%s\n", a.Name, a.Namespace)
			rel := a.Status.Release
			if rel == "" {
				rel = "(not deployed yet: git push)"
			}
			fmt.Fprintf(w, "Release:\t%s\n", rel)
			for i, u := range a.Status.URLs {
				label := ""
				if i == 0 {
					label = "URLs:"
				}
				fmt.Fprintf(w, "%s\t%s\n", label, u)
			}
			for i, p := range a.Status.Processes {
				label := ""
				if i == 0 {
					label = "Processes:"
				}
				fmt.Fprintf(w, "%s\t%s=%d/%d\t%s\n", label, p.Type, p.ReadyReplicas, p.Replicas, p.Command)
			}
			if len(a.Spec.Domains) > 0 {
				fmt.Fprintf(w, "Domains:\t%s\n", strings.Join(a.Spec.Domains, ", "))
			}
			for _, c := range a.Status.Conditions {
				fmt.Fprintf(w, "%s:\t%s\t%s\n", c.Type, c.Status, c.Message)
			}
			return w.Flush()
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	return cmd
}

func newAppsDestroyCommand(io streams) *cobra.Command {
	var f appFlags
	var confirm string
	cmd := &cobra.Command{
		Use:   "destroy APP --confirm APP",
		Short: "Delete an app: its processes, releases, builds and config",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := f.name(&args)
			if err != nil {
				return err
			}
			if confirm != name {
				return fmt.Errorf("destroying %s deletes its processes, releases, builds and config vars; say so with --confirm %s", name, name)
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			if _, err := client.For[*api.App](b, f.namespace).Delete(cmd.Context(), name, api.DeleteOptions{}); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "app/%s destroyed\n", name)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&confirm, "confirm", "", "the app's name, to confirm")
	return cmd
}

func newAppsRollbackCommand(io streams) *cobra.Command {
	var f appFlags
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "rollback APP [RELEASE]",
		Short: "Run an earlier release's image and config again (default: the one before)",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := f.name(&args)
			if err != nil {
				return err
			}
			target := ""
			if len(args) > 0 {
				target = args[0]
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			rel, err := b.RollbackApp(cmd.Context(), f.namespace, name, client.AppRollbackRequest{Release: target})
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "%s: %s\n", rel.Name, rel.Spec.Description)
			return waitRelease(cmd.Context(), io.out, b, rel, wait)
		},
	}
	f.add(cmd)
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the release to roll out (0: do not wait)")
	return cmd
}

// waitRelease waits for rel to roll out, saying how it ended.
func waitRelease(ctx context.Context, w io.Writer, b client.Backend, rel *api.Release, wait time.Duration) error {
	if wait <= 0 || rel == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rels := client.For[*api.Release](b, rel.Namespace)
	for {
		r, err := rels.Get(ctx, rel.Name)
		if err != nil {
			return err
		}
		switch r.Status.Phase {
		case api.ReleaseSucceeded:
			fmt.Fprintf(w, "v%d is live\n", r.Spec.Version)
			return nil
		case api.ReleaseFailed:
			return fmt.Errorf("v%d failed: %s", r.Spec.Version, r.Status.Message)
		case api.ReleaseSuperseded:
			return fmt.Errorf("v%d was replaced by a newer release before it rolled out", r.Spec.Version)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("v%d has not rolled out after %s (it goes on; see skiff releases -a %s)", r.Spec.Version, wait, r.Spec.App)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func newConfigCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Read and change an app's config vars (each change is a new release, no rebuild)"}
	var gf appFlags
	get := &cobra.Command{
		Use:   "get -a APP [KEY]",
		Short: "Print the app's config vars, or one",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := gf.open(args)
			if err != nil {
				return err
			}
			sec, err := client.For[*api.Secret](b, gf.namespace).Get(cmd.Context(), api.AppConfigSecretName(name))
			if errdefs.IsNotFound(err) {
				sec = &api.Secret{}
			} else if err != nil {
				return err
			}
			if len(args) == 1 {
				v, ok := sec.Data[args[0]]
				if !ok {
					return fmt.Errorf("app %s has no config var %s", name, args[0])
				}
				fmt.Fprintln(io.out, string(v))
				return nil
			}
			keys := make([]string, 0, len(sec.Data))
			for k := range sec.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(io.out, "%s=%s\n", k, sec.Data[k])
			}
			return nil
		},
	}
	gf.add(get)
	var sf appFlags
	var wait time.Duration
	set := &cobra.Command{
		Use:   "set -a APP KEY=VALUE...",
		Short: "Set config vars",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := sf.name(&args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return errors.New("give KEY=VALUE pairs")
			}
			req := client.AppConfigRequest{Set: map[string]string{}}
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("%q: write KEY=VALUE", a)
				}
				req.Set[k] = v
			}
			return changeConfig(cmd.Context(), io.out, &sf, name, req, wait)
		},
	}
	sf.add(set)
	set.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the release to roll out (0: do not wait)")
	var uf appFlags
	var uwait time.Duration
	unset := &cobra.Command{
		Use:   "unset -a APP KEY...",
		Short: "Remove config vars",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := uf.name(&args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return errors.New("name the config vars to unset")
			}
			return changeConfig(cmd.Context(), io.out, &uf, name, client.AppConfigRequest{Unset: args}, uwait)
		},
	}
	uf.add(unset)
	unset.Flags().DurationVar(&uwait, "wait", 5*time.Minute, "how long to wait for the release to roll out (0: do not wait)")
	cmd.AddCommand(get, set, unset)
	return cmd
}

// changeConfig sends a config change and waits for its release.
func changeConfig(ctx context.Context, w io.Writer, f *appFlags, app string, req client.AppConfigRequest, wait time.Duration) error {
	b, err := f.backend()
	if err != nil {
		return err
	}
	rel, err := b.SetAppConfig(ctx, f.namespace, app, req)
	if err != nil {
		return err
	}
	if rel == nil {
		fmt.Fprintf(w, "config of %s saved; it applies from the first deploy\n", app)
		return nil
	}
	fmt.Fprintf(w, "%s: %s\n", rel.Name, rel.Spec.Description)
	return waitRelease(ctx, w, b, rel, wait)
}

func newPsCommand(io streams) *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "ps [APP]",
		Short: "Show an app's process types and their pods",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := f.open(args)
			if err != nil {
				return err
			}
			a, err := client.For[*api.App](b, f.namespace).Get(cmd.Context(), name)
			if err != nil {
				return err
			}
			pods, _, _, err := client.For[*api.Pod](b, f.namespace).List(cmd.Context(), api.ListOptions{LabelSelector: api.LabelApp + "=" + name})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROCESS\tREADY\tCOMMAND")
			for _, p := range a.Status.Processes {
				cmdline := p.Command
				if cmdline == "" {
					cmdline = "(the image's command)"
				}
				fmt.Fprintf(w, "%s\t%d/%d\t%s\n", p.Type, p.ReadyReplicas, p.Replicas, cmdline)
			}
			if len(pods) > 0 {
				fmt.Fprintln(w, "\nPOD\tPROCESS\tRELEASE\tSTATUS\tNODE")
				slices.SortFunc(pods, func(x, y *api.Pod) int { return strings.Compare(x.Name, y.Name) })
				for _, p := range pods {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Labels[api.LabelProcess], p.Labels[api.LabelRelease], p.Status.Phase, p.Spec.NodeName)
				}
			}
			return w.Flush()
		},
	}
	f.add(cmd)
	cmd.AddCommand(newPsScaleCommand(io))
	return cmd
}

func newPsScaleCommand(io streams) *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   "scale -a APP TYPE=N...",
		Short: "Set how many pods each process type runs (web=2 worker=1)",
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := f.name(&args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return errors.New("give TYPE=N pairs, e.g. web=2 worker=1")
			}
			scale := map[string]int32{}
			for _, a := range args {
				t, n, ok := strings.Cut(a, "=")
				v, err := strconv.ParseInt(n, 10, 32)
				if !ok || t == "" || err != nil || v < 0 {
					return fmt.Errorf("%q: write TYPE=N with N 0 or more", a)
				}
				scale[t] = int32(v)
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			return updateApp(cmd.Context(), b, f.namespace, name, func(a *api.App) error {
				if a.Spec.Scale == nil {
					a.Spec.Scale = map[string]int32{}
				}
				for t, n := range scale {
					a.Spec.Scale[t] = n
				}
				return nil
			}, func(a *api.App) {
				var parts []string
				for _, t := range slices.Sorted(maps.Keys(scale)) {
					parts = append(parts, fmt.Sprintf("%s=%d", t, scale[t]))
				}
				fmt.Fprintf(io.out, "scaled %s: %s\n", a.Name, strings.Join(parts, " "))
			})
		},
	}
	f.add(cmd)
	return cmd
}

// updateApp changes an App with fn, retrying on conflicts.
func updateApp(ctx context.Context, b client.Backend, ns, name string, fn func(*api.App) error, done func(*api.App)) error {
	apps := client.For[*api.App](b, ns)
	var out *api.App
	err := client.RetryOnConflict(ctx, func() error {
		a, err := apps.Get(ctx, name)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
		out, err = apps.Update(ctx, a)
		return err
	})
	if err == nil {
		done(out)
	}
	return err
}

func newDomainsCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "domains", Short: "Add and remove an app's custom domains"}
	cmd.AddCommand(
		domainsCommand(io, "add -a APP DOMAIN...", "Make the app answer at DOMAIN too (point its DNS at a node)",
			func(a *api.App, d string) error {
				if !slices.Contains(a.Spec.Domains, d) {
					a.Spec.Domains = append(a.Spec.Domains, d)
				}
				return nil
			}),
		domainsCommand(io, "remove -a APP DOMAIN...", "Stop answering at DOMAIN",
			func(a *api.App, d string) error {
				i := slices.Index(a.Spec.Domains, d)
				if i < 0 {
					return fmt.Errorf("app %s has no domain %s", a.Name, d)
				}
				a.Spec.Domains = slices.Delete(a.Spec.Domains, i, i+1)
				return nil
			}))
	return cmd
}

// domainsCommand changes an app's domains with edit, one domain at a time.
func domainsCommand(io streams, use, short string, edit func(a *api.App, domain string) error) *cobra.Command {
	var f appFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := f.open(args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return errors.New("name the domains")
			}
			return updateApp(cmd.Context(), b, f.namespace, name, func(a *api.App) error {
				for _, d := range args {
					if err := edit(a, strings.ToLower(strings.TrimSuffix(d, "."))); err != nil {
						return err
					}
				}
				return nil
			}, func(a *api.App) { fmt.Fprintf(io.out, "%s domains: %s\n", a.Name, strings.Join(a.Spec.Domains, ", ")) })
		},
	}
	f.add(cmd)
	return cmd
}

func newReleasesCommand(io streams) *cobra.Command {
	var f appFlags
	var output string
	cmd := &cobra.Command{
		Use:   "releases [APP]",
		Short: "List an app's releases, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := f.open(args)
			if err != nil {
				return err
			}
			list, _, _, err := client.For[*api.Release](b, f.namespace).List(cmd.Context(), api.ListOptions{LabelSelector: api.LabelApp + "=" + name})
			if err != nil {
				return err
			}
			slices.SortFunc(list, func(x, y *api.Release) int { return int(y.Spec.Version - x.Spec.Version) })
			return printList(io.out, "Release", list, false, output)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	return cmd
}

func newBuildsCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "builds", Short: "List an app's builds and read their logs"}
	var lf appFlags
	list := &cobra.Command{
		Use:   "list [APP]",
		Short: "List an app's builds, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := lf.open(args)
			if err != nil {
				return err
			}
			builds, err := appBuilds(cmd.Context(), b, lf.namespace, name)
			if err != nil {
				return err
			}
			return printList(io.out, "Build", builds, false, "")
		},
	}
	lf.add(list)
	var gf appFlags
	var follow bool
	logs := &cobra.Command{
		Use:   "logs APP [BUILD]",
		Short: "Print a build's log (default: the newest build)",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, args, b, err := gf.open(args)
			if err != nil {
				return err
			}
			build := ""
			if len(args) > 0 {
				build = args[0]
			} else {
				builds, err := appBuilds(cmd.Context(), b, gf.namespace, name)
				if err != nil {
					return err
				}
				if len(builds) == 0 {
					return fmt.Errorf("app %s has no builds yet: git push to it", name)
				}
				build = builds[0].Name
			}
			rc, err := b.BuildLog(cmd.Context(), gf.namespace, build, follow)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = streamCopy(io.out, rc)
			return err
		},
	}
	gf.add(logs)
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "go on until the build ends")
	cmd.AddCommand(list, logs)
	return cmd
}

// appBuilds lists an app's builds, newest first.
func appBuilds(ctx context.Context, b client.Backend, ns, app string) ([]*api.Build, error) {
	list, _, _, err := client.For[*api.Build](b, ns).List(ctx, api.ListOptions{LabelSelector: api.LabelApp + "=" + app})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(x, y *api.Build) int {
		if c := y.CreationTimestamp.Compare(x.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(y.Name, x.Name)
	})
	return list, nil
}

func newGitRemoteCommand(io streams) *cobra.Command {
	var f clientFlags
	var remote string
	cmd := &cobra.Command{
		Use:   "git-remote APP",
		Short: "Print the git commands that make this repository push to APP",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := f.configAndBackend()
			if err != nil {
				return err
			}
			u, err := url.Parse(cfg.Server)
			if err != nil {
				return fmt.Errorf("the config's server %q: %w", cfg.Server, err)
			}
			u.Path = "/git/" + args[0] + ".git"
			caPath := ""
			if cfg.CA != "" {
				dir, err := os.UserConfigDir()
				if err != nil {
					return err
				}
				caPath = filepath.Join(dir, "skiff", "ca-"+u.Hostname()+".pem")
				if err := os.MkdirAll(filepath.Dir(caPath), 0o700); err != nil {
					return err
				}
				if err := os.WriteFile(caPath, []byte(cfg.CA), 0o600); err != nil {
					return err
				}
			}
			fmt.Fprintf(io.out, "git remote add %s %s\n", remote, u)
			if caPath != "" {
				fmt.Fprintf(io.out, "git config http.%s://%s/.sslCAInfo %s\n", u.Scheme, u.Host, caPath)
			}
			fmt.Fprintf(io.out, "# git asks for a password: give an API token (skiff token create --name git); any user name\n")
			fmt.Fprintf(io.out, "git push %s main\n", remote)
			return nil
		},
	}
	f.addConfigOnly(cmd)
	cmd.Flags().StringVar(&remote, "remote", "skiff", "the remote's name")
	return cmd
}

// printList prints objects of one kind as get does (a table, or output
// json/yaml), with a NAMESPACE column when all.
func printList[T api.Object](w io.Writer, kind string, list []T, all bool, output string) error {
	objs := make([]api.Object, len(list))
	for i, o := range list {
		objs[i] = o
	}
	k, _ := api.LookupKind(kind)
	return printObjects(w, table{kind: k, allNamespaces: all, now: time.Now()}, objs, output, false)
}
