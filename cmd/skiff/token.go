package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func newTokenCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "API tokens for scripts and CI: create, list, revoke",
	}
	var f clientFlags
	var role, ttl string
	var namespaces []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make an API token acting as you, narrowed to a role (and namespaces); it is shown once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			t, err := b.CreateAPIToken(cmd.Context(), client.APITokenRequest{Name: args[0], Role: role, Namespaces: namespaces, TTL: ttl})
			if err != nil {
				return err
			}
			fmt.Fprintln(io.out, t.Token)
			exp := "never"
			if !t.Expires.IsZero() {
				exp = t.Expires.Local().Format(time.DateTime)
			}
			fmt.Fprintf(io.err, "API token %s (%s): role %s%s, expires %s. It is shown only now; send it as `Authorization: Bearer <token>` or put it in a config file's token field.\n",
				t.ID, t.Name, t.Role, nsSuffix(t.Namespaces), exp)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", api.RoleViewer, "the role the token acts with (it never gets more than you have)")
	create.Flags().StringSliceVar(&namespaces, "namespaces", nil, "namespaces the token acts in (default: wherever your bindings allow)")
	create.Flags().StringVar(&ttl, "ttl", "", "how long it lasts, e.g. 720h (default: the server's, 90 days)")
	var all bool
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List your API tokens (--all: everyone's, for admins); never their secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			ts, err := b.APITokens(cmd.Context(), all)
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return writeEncoded(io.out, ts, output)
			case "":
			default:
				return fmt.Errorf("-o %s: want json or yaml (or nothing, for the table)", output)
			}
			tw := tabwriter.NewWriter(io.out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tUSER\tROLE\tNAMESPACES\tEXPIRES\tAGE")
			for _, t := range ts {
				exp := "never"
				if !t.Expires.IsZero() {
					exp = t.Expires.Local().Format(time.DateTime)
				}
				ns := strings.Join(t.Namespaces, ",")
				if ns == "" {
					ns = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.User, t.Role, ns, exp, humanAge(api.Time{Time: t.Created}, time.Now()))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "everyone's tokens (needs list on apitokens)")
	list.Flags().StringVarP(&output, "output", "o", "", "json or yaml for a script")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token: the next request with it is refused, open ones end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			if err := b.RevokeAPIToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "API token %s revoked\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		f.addConfigOnly(c)
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// addConfigOnly adds the flags that find the client config (not the
// namespace: these commands have none, or their own).
func (f *clientFlags) addConfigOnly(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "client config file (default: $SKIFF_CONFIG, ~/.config/skiff/config.yaml, then <data-dir>/admin.yaml)")
	fl.StringVar(&f.dataDir, "data-dir", "/var/lib/skiff", "server data directory, to find admin.yaml on the server machine")
}

func nsSuffix(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return " in " + strings.Join(ns, ", ")
}
