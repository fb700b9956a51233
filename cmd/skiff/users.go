package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func newUsersCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "People who sign in: create, set passwords, invite, disable (list them with skiff get users)",
	}
	var f clientFlags
	var email, display, role, ttl string
	var groups, namespaces []string
	var invite, passwordStdin bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Add a local user, optionally with a role, a password or an invite link",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			b, err := f.backend()
			if err != nil {
				return err
			}
			name := args[0]
			u := &api.User{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.UserSpec{DisplayName: display, Email: email, Groups: groups}}
			if _, err := b.Create(ctx, "users", "", u); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "user/%s created\n", name)
			if role != "" {
				rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: name + "-" + role}, Role: role,
					Subjects: []api.Subject{{Kind: api.SubjectUser, Name: name}}, Namespaces: namespaces}
				if _, err := b.Create(ctx, "rolebindings", "", rb); err != nil {
					return fmt.Errorf("the user was created, its role binding not: %w", err)
				}
				fmt.Fprintf(io.out, "rolebinding/%s created (role %s%s)\n", rb.Name, role, nsSuffix(namespaces))
			}
			switch {
			case passwordStdin:
				pw, err := readPassword(io, true, "")
				if err != nil {
					return err
				}
				if err := b.SetPassword(ctx, name, pw); err != nil {
					return fmt.Errorf("the user was created, the password not set: %w", err)
				}
				fmt.Fprintf(io.out, "password set for %s\n", name)
			case invite:
				return printInvite(ctx, io, b, name, ttl)
			}
			return nil
		},
	}
	create.Flags().StringVar(&email, "email", "", "e-mail address")
	create.Flags().StringVar(&display, "display-name", "", "name to show")
	create.Flags().StringSliceVar(&groups, "group", nil, "groups to put the user in (repeat)")
	create.Flags().StringVar(&role, "role", "", "bind this role (admin, developer, viewer or your own) to the user")
	create.Flags().StringSliceVar(&namespaces, "namespaces", nil, "with --role: only in these namespaces")
	create.Flags().BoolVar(&invite, "invite", false, "print a one-time link at which the user chooses a password")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the user's password from stdin")
	create.Flags().StringVar(&ttl, "ttl", "72h", "with --invite: how long the link works")

	var pwStdin bool
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (asked for on the terminal, or --password-stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			pw, err := readPassword(io, pwStdin, "New password for "+args[0]+": ")
			if err != nil {
				return err
			}
			if err := b.SetPassword(cmd.Context(), args[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "password set for %s\n", args[0])
			return nil
		},
	}
	passwd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin")

	var inviteTTL string
	inv := &cobra.Command{
		Use:   "invite NAME",
		Short: "Print a one-time link at which the user chooses a password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			return printInvite(cmd.Context(), io, b, args[0], inviteTTL)
		},
	}
	inv.Flags().StringVar(&inviteTTL, "ttl", "72h", "how long the link works")

	setDisabled := func(disabled bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"spec":{"disabled":%t}}`, disabled)
			if _, err := b.Patch(cmd.Context(), "users", "", args[0], []byte(patch), ""); err != nil {
				return err
			}
			if disabled {
				fmt.Fprintf(io.out, "user/%s disabled: its sessions, API tokens and open requests have ended\n", args[0])
			} else {
				fmt.Fprintf(io.out, "user/%s enabled\n", args[0])
			}
			return nil
		}
	}
	disable := &cobra.Command{Use: "disable NAME", Short: "Disable a user: every session, token and open request of theirs ends at once", Args: cobra.ExactArgs(1), RunE: setDisabled(true)}
	enable := &cobra.Command{Use: "enable NAME", Short: "Let a disabled user sign in again", Args: cobra.ExactArgs(1), RunE: setDisabled(false)}

	sessions := &cobra.Command{
		Use:   "sessions [NAME]",
		Short: "List a user's sign-in sessions (yours without NAME)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			user := ""
			if len(args) == 1 {
				user = args[0]
			}
			ss, err := b.Sessions(cmd.Context(), user)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(io.out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tVIA\tADDRESS\tAGE\tEXPIRES\tCLIENT")
			for _, s := range ss {
				id := s.ID
				if s.Current {
					id += " (this)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, s.User, s.Via, s.Address,
					humanAge(api.Time{Time: s.Created}, time.Now()), s.Expires.Local().Format(time.DateTime), truncate(s.UserAgent, 40))
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke-session ID",
		Short: "End a sign-in session (yours, or anyone's for admins)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			if err := b.RevokeSession(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "session %s ended\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, passwd, inv, disable, enable, sessions, revoke} {
		f.addConfigOnly(c)
	}
	cmd.AddCommand(create, passwd, inv, disable, enable, sessions, revoke)
	return cmd
}

func printInvite(ctx context.Context, io streams, b *client.HTTP, user, ttl string) error {
	d, err := time.ParseDuration(ttl)
	if err != nil {
		return fmt.Errorf("--ttl %q: %w", ttl, err)
	}
	inv, err := b.NewInvite(ctx, user, d)
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, inv.URL)
	fmt.Fprintf(io.err, "Send this link to %s: it sets their password once, until %s.\n", user, inv.Expires.Local().Format(time.DateTime))
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n-1]) + "…"
}
