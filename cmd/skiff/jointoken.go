package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// newJoinTokenCommand: `skiff join-token create|list|revoke`, the tokens
// that let machines join besides the server's own (<data-dir>/node-token).
func newJoinTokenCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join-token",
		Short: "Make, list and revoke tokens that let machines join as nodes",
	}
	var f clientFlags
	var ttl time.Duration
	var node, description string
	create := &cobra.Command{
		Use:   "create [--ttl 24h] [--node NAME] [--description TEXT]",
		Short: "Make a join token and print it (once: the server keeps only its hash)",
		Long: `Make a join token. A machine joins with it: SKIFF_TOKEN=<token> skiff agent --server URL.
With --node NAME it is for reinstalling that node: the wiped machine joins under
its old name (which no token without --node can take) and the token is spent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return fmt.Errorf("--ttl %s: may not be negative (0: never expires)", ttl)
			}
			if node != "" {
				if msgs := api.IsDNS1123Subdomain(node); len(msgs) > 0 {
					return fmt.Errorf("--node %q: %s", node, msgs[0])
				}
			}
			cfg, b, err := f.configAndBackend()
			if err != nil {
				return err
			}
			caHash, err := caHashOf(cfg.CA)
			if err != nil {
				return err
			}
			s, secret, err := auth.NewJoinTokenSecret(ttl, node, description, time.Now())
			if err != nil {
				return err
			}
			if _, err := client.For[*api.Secret](b, auth.JoinTokenNamespace).Create(cmd.Context(), s); err != nil {
				return err
			}
			fmt.Fprintln(io.out, auth.JoinToken{CAHash: caHash, Secret: secret}.String())
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long it lasts (0: never expires)")
	create.Flags().StringVar(&node, "node", "", "the existing node it may rejoin as (a reinstalled machine), once")
	create.Flags().StringVar(&description, "description", "", "what it is for")
	f.add(create)

	var lf clientFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the join tokens (their ids; the secrets are not kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := lf.backend()
			if err != nil {
				return err
			}
			items, _, _, err := client.For[*api.Secret](b, auth.JoinTokenNamespace).List(cmd.Context(), api.ListOptions{})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(io.out, 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNODE\tEXPIRES\tDESCRIPTION")
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", auth.DefaultJoinTokenID, "<any new>", "never", "the server's <data-dir>/"+auth.NodeTokenFile)
			now := time.Now()
			for _, s := range items {
				if s.Type != api.SecretTypeJoinToken {
					continue
				}
				exp := "never"
				if e := string(s.Data[api.JoinTokenExpiresKey]); e != "" {
					exp = e
					if t, err := time.Parse(time.RFC3339, e); err == nil && !now.Before(t) {
						exp += " (expired)"
					}
				}
				nodeCol := string(s.Data[api.JoinTokenNodeKey])
				if nodeCol == "" {
					nodeCol = "<any new>"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Data[api.JoinTokenIDKey], nodeCol, exp, s.Data[api.JoinTokenDescriptionKey])
			}
			return w.Flush()
		},
	}
	lf.add(list)

	var rf clientFlags
	revoke := &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke join tokens: machines that have not joined with them cannot",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := rf.backend()
			if err != nil {
				return err
			}
			var errs []error
			for _, id := range args {
				if id == auth.DefaultJoinTokenID {
					errs = append(errs, fmt.Errorf("the default token is the server's <data-dir>/%s: delete that file and restart the server for a new one", auth.NodeTokenFile))
					continue
				}
				if _, err := client.For[*api.Secret](b, auth.JoinTokenNamespace).Delete(cmd.Context(), auth.JoinTokenSecretPrefix+id, api.DeleteOptions{}); err != nil {
					errs = append(errs, fmt.Errorf("join token %s: %w", id, err))
					continue
				}
				fmt.Fprintf(io.out, "join token %s revoked\n", id)
			}
			return errors.Join(errs...)
		},
	}
	rf.add(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// configAndBackend is backend, with the config it read.
func (f *clientFlags) configAndBackend() (client.Config, *client.HTTP, error) {
	path, err := client.FindConfig(f.config, f.dataDir)
	if err != nil {
		return client.Config{}, nil, err
	}
	cfg, err := client.LoadConfig(path)
	if err != nil {
		return client.Config{}, nil, err
	}
	b, err := client.New(cfg)
	if err == nil && cfg.RefreshToken != "" {
		// A session's renewed access token is kept for the next command.
		b.OnRefresh(func(t client.TokenResponse) {
			c := cfg
			c.AccessToken, c.AccessTokenExpires = t.AccessToken, t.ExpiresAt
			if t.RefreshToken != "" {
				c.RefreshToken = t.RefreshToken
			}
			if err := client.WriteConfig(path, c); err != nil {
				// The session goes on; the next command renews again.
				fmt.Fprintf(os.Stderr, "warning: the renewed access token was not kept: %v\n", err)
			}
		})
	}
	return cfg, b, err
}

// caHashOf is the hex SHA-256 of the first certificate's DER in caPEM,
// which a join token pins.
func caHashOf(caPEM string) (string, error) {
	block, _ := pem.Decode([]byte(caPEM))
	if block == nil {
		return "", errors.New("the client config's certificateAuthority holds no PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}
