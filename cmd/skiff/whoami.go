package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newWhoAmICommand(io streams) *cobra.Command {
	var f clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Print who the server takes you for: your name, groups, and how you signed in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			w, err := b.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return writeEncoded(io.out, w, output)
			case "":
			default:
				return fmt.Errorf("-o %s: want json or yaml (or nothing, for the table)", output)
			}
			groups := strings.Join(w.Groups, ", ")
			if groups == "" {
				groups = "<none>"
			}
			fmt.Fprintf(io.out, "%s (groups: %s; by %s)\n", w.Name, groups, w.Via)
			for _, r := range w.Roles {
				fmt.Fprintf(io.out, "  role %s%s (binding %s)\n", r.Role, where(r.Namespaces), r.Binding)
			}
			if w.Scope != nil {
				fmt.Fprintf(io.out, "  this API token acts as role %s%s only\n", w.Scope.Role, where(w.Scope.Namespaces))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml for a script")
	return cmd
}

// where says where a role applies: " in a, b" or " everywhere".
func where(ns []string) string {
	if len(ns) == 0 {
		return " everywhere"
	}
	return " in " + strings.Join(ns, ", ")
}
