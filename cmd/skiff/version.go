package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCommand(io streams) *cobra.Command {
	var f clientFlags
	var clientOnly bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's and the server's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := map[string]any{"client": map[string]string{
				"version": version, "commit": commit, "goVersion": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
			}}
			var serverErr error
			if !clientOnly {
				b, err := f.backend()
				if err == nil {
					var v map[string]string
					if v, err = b.Version(cmd.Context()); err == nil {
						out["server"] = v
					}
				}
				serverErr = err
			}
			if output == "json" {
				b, _ := json.MarshalIndent(out, "", "  ")
				fmt.Fprintln(io.out, string(b))
			} else {
				fmt.Fprintf(io.out, "Client: %s (%s, %s, %s)\n", version, commit, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
				if s, ok := out["server"].(map[string]string); ok {
					fmt.Fprintf(io.out, "Server: %s (%s, %s, %s)\n", s["version"], s["commit"], s["goVersion"], s["platform"])
				}
			}
			if serverErr != nil {
				return fmt.Errorf("server version: %w", serverErr)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client's version")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json for JSON")
	return cmd
}
