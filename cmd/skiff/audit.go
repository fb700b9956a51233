package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/audit"
)

// newAuditCommand: `skiff audit`, the audit log's newest entries.
func newAuditCommand(io streams) *cobra.Command {
	var f clientFlags
	var user, verb, resource, name, since, until, output string
	var denied bool
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--user U] [--verb V] [--resource R] [-n NS] [--name N] [--since 1h] [--until T] [--denied] [--limit N] [-o table|json]",
		Short: "Show the audit log: who did what to which object, when, from where, and whether it was allowed",
		Long: `Show the newest entries of the server's audit log, oldest first.
--since and --until take an RFC 3339 time (2026-11-22T12:00:00Z) or how long
ago (30m, 1h, 7d). Only a role that grants the "audit" resource may read it (admin does).`,
		Example: `  skiff audit --denied --since 1h
  skiff audit --user alice -n shop --resource deployments
  skiff audit --name web --limit 20 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "table" && output != "json" {
				return fmt.Errorf("-o %q: want table or json", output)
			}
			// Read the flags as the server reads its parameters, so that
			// both say the same about a bad value.
			q := url.Values{}
			set := func(k, v string) {
				if v != "" {
					q.Set(k, v)
				}
			}
			set("user", user)
			set("verb", verb)
			set("resource", resource)
			set("namespace", f.namespace)
			set("name", name)
			set("since", since)
			set("until", until)
			if denied {
				q.Set("denied", "true")
			}
			if cmd.Flags().Changed("limit") {
				q.Set("limit", strconv.Itoa(limit))
			}
			filter, err := audit.ParseFilter(q)
			if err != nil {
				return fmt.Errorf("skiff audit: %w", err)
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			entries, err := b.Audit(cmd.Context(), filter)
			if err != nil {
				return err
			}
			if output == "json" {
				if entries == nil {
					entries = []audit.Entry{}
				}
				data, _ := json.MarshalIndent(entries, "", "  ")
				fmt.Fprintln(io.out, string(data))
				return nil
			}
			if len(entries) == 0 {
				fmt.Fprintln(io.err, "No audit entries match.")
				return nil
			}
			printAudit(io.out, entries, time.Local)
			return nil
		},
	}
	f.add(cmd)
	// Here -n filters, and no namespace means all of them.
	ns := cmd.Flags().Lookup("namespace")
	ns.Value.Set("")
	ns.DefValue = ""
	ns.Usage = "only entries about objects in this namespace (default: all)"
	fl := cmd.Flags()
	fl.StringVar(&user, "user", "", "only entries by this user")
	fl.StringVar(&verb, "verb", "", "only entries of this verb (get, list, watch, create, update, patch, delete, …)")
	fl.StringVar(&resource, "resource", "", "only entries about this resource (pods, deployments, secrets, …)")
	fl.StringVar(&name, "name", "", "only entries about the object of this name")
	fl.StringVar(&since, "since", "", "only entries from this time on (RFC 3339, or how long ago: 1h, 7d)")
	fl.StringVar(&until, "until", "", "only entries up to this time (RFC 3339, or how long ago)")
	fl.BoolVar(&denied, "denied", false, "only refused requests")
	fl.IntVar(&limit, "limit", audit.DefaultLimit, fmt.Sprintf("how many of the newest matching entries (at most %d)", audit.MaxLimit))
	fl.StringVarP(&output, "output", "o", "table", "table, or json for a script")
	return cmd
}

// printAudit writes entries as a table, times in loc. An entry of no
// resource (a sign-in) shows its method and path instead of a verb and a
// resource, so that every row says what was done.
func printAudit(w io.Writer, entries []audit.Entry, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tADDRESS\tVERB\tRESOURCE\tNAMESPACE\tNAME\tCODE\tALLOWED\tREASON")
	for _, e := range entries {
		verb, resource := e.Verb, e.Resource
		if verb == "" && resource == "" {
			verb, resource = e.Method, e.Path
		}
		code := "-"
		if e.Code != 0 {
			code = strconv.Itoa(e.Code)
		}
		allowed := "no"
		if e.Allowed {
			allowed = "yes"
		}
		fmt.Fprintln(tw, strings.Join([]string{
			e.Time.In(loc).Format(time.RFC3339), auditCell(e.User), auditCell(e.Address), auditCell(verb), auditCell(resource),
			auditCell(e.Namespace), auditCell(e.Name), code, allowed, auditCell(e.Reason),
		}, "\t"))
	}
	tw.Flush()
}

// auditCell is s for a table: "-" when empty, on one line, and without
// control characters — a name from a sign-in provider could carry a
// terminal escape — or tabs that would break the columns.
func auditCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
