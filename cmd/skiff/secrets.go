package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/store/encrypt"
)

// newSecretsKeyCommand is `skiff server secrets-key`: the offline
// operations on the key that seals Secrets at rest. They open state.db
// themselves, so the server must be stopped (the store says so if it is
// not). Rotation is offline on purpose: a running server holds its ring
// in memory, and one writer of the key file and the store at a time
// needs no coordination.
func newSecretsKeyCommand(io streams) *cobra.Command {
	dataDir := defaultServerConfig().DataDir
	cmd := &cobra.Command{
		Use:   "secrets-key",
		Short: "Show, rotate or re-apply the key that encrypts Secrets at rest (server stopped)",
		Long: `Secrets are stored encrypted with AES-256-GCM under a key ring kept in
<data-dir>/pki/` + encrypt.KeyFile + ` (made at the first start). The first key
encrypts; every key listed decrypts. Run these with the server stopped.

  status     the keys, how many Secrets each encrypts, and any Secret that does
             not decrypt
  rotate     add a new key first, re-encrypt every Secret with it, drop the old
             keys (killed midway, nothing is lost: run it again)
  reencrypt  re-encrypt every Secret with the first key and drop keys that
             encrypt nothing (finishes an interrupted rotate)

Back up the key file with state.db: without it, the Secrets cannot be read.`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", dataDir, "the server's data directory (state.db, pki/)")
	paths := func() (string, string) {
		return filepath.Join(dataDir, "pki", encrypt.KeyFile), filepath.Join(dataDir, "state.db")
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "status",
			Short: "List the keys and how many Secrets each encrypts",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				s, err := encrypt.ReadStatus(paths())
				if err != nil {
					return err
				}
				return printKeyStatus(io.out, s)
			},
		},
		&cobra.Command{
			Use:   "rotate",
			Short: "Add a new key, re-encrypt every Secret with it, drop the old keys",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				keyFile, db := paths()
				name, s, err := encrypt.Rotate(keyFile, db, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(io.out, "Secrets are now encrypted with key %s.\n", name)
				return printKeyStatus(io.out, s)
			},
		},
		&cobra.Command{
			Use:   "reencrypt",
			Short: "Re-encrypt every Secret with the first key; drop keys that encrypt nothing",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				s, err := encrypt.Reencrypt(paths())
				if err != nil {
					return err
				}
				return printKeyStatus(io.out, s)
			},
		},
	)
	return cmd
}

// printKeyStatus prints a status as a table, then what needs attention.
func printKeyStatus(w io.Writer, s *encrypt.Status) error {
	fmt.Fprintf(w, "Key file: %s\n", s.KeyFile)
	for _, warning := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "KEY\tACTIVE\tCREATED\tSECRETS")
	known := map[string]bool{}
	for _, k := range s.Keys {
		known[k.Name] = true
		active := ""
		if k.Active {
			active = "yes"
		}
		created := "-"
		if !k.Created.IsZero() {
			created = k.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", k.Name, active, created, k.Secrets)
	}
	for name, n := range s.Sealed {
		if !known[name] {
			fmt.Fprintf(tw, "%s\tmissing from the key file\t-\t%d\n", name, n)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Plaintext > 0 {
		fmt.Fprintf(w, "%d Secret(s) stored unencrypted: the next server start (or reencrypt) encrypts them.\n", s.Plaintext)
	}
	if len(s.Unreadable) > 0 {
		fmt.Fprintf(w, "%d Secret(s) do not decrypt:\n  %s\n", len(s.Unreadable), strings.Join(s.Unreadable, "\n  "))
		return fmt.Errorf("%d secret(s) do not decrypt", len(s.Unreadable))
	}
	return nil
}
