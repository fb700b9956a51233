package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// defaultSSHKeyFiles are tried, under ~/.ssh, by `skiff keys add` without
// a file.
var defaultSSHKeyFiles = []string{"id_ed25519.pub", "id_rsa.pub"}

func newKeysCommand(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "SSH keys for git push over SSH: add, list, remove",
		Long: "Your registered SSH public keys sign you in for git push and fetch over SSH\n" +
			"(git push ssh://HOST:2222/APP.git; the SSH user name is ignored, the key names you).",
	}
	var f clientFlags
	var name string
	add := &cobra.Command{
		Use:   "add [FILE|-]",
		Short: "Register an SSH public key (default ~/.ssh/id_ed25519.pub, then ~/.ssh/id_rsa.pub; - reads stdin)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := ""
			if len(args) == 1 {
				file = args[0]
			}
			line, from, err := readPublicKey(io.in, file)
			if err != nil {
				return err
			}
			keyName := name
			if keyName == "" {
				keyName = defaultKeyName(line)
			}
			cfg, b, err := f.configAndBackend()
			if err != nil {
				return err
			}
			k, err := b.AddSSHKey(cmd.Context(), client.SSHKeyRequest{Name: keyName, PublicKey: line})
			if err != nil {
				return fmt.Errorf("add the key of %s: %w", from, err)
			}
			fmt.Fprintf(io.out, "SSH key %s (%s, %s) added for %s\n", k.ID, k.Name, k.Fingerprint, k.User)
			fmt.Fprintf(io.err, "Push with: git push ssh://%s/APP.git main\n", sshHost(cfg.Server))
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "what the key is (default: the key's comment, else this machine's name)")
	var user, output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List your SSH keys (--user: another's, for admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return fmt.Errorf("-o %s: want json or yaml (or nothing, for the table)", output)
			}
			b, err := f.backend()
			if err != nil {
				return err
			}
			ks, err := b.SSHKeys(cmd.Context(), user)
			if err != nil {
				return err
			}
			if output != "" {
				return writeEncoded(io.out, ks, output)
			}
			return printSSHKeys(io.out, ks, time.Now())
		},
	}
	list.Flags().StringVar(&user, "user", "", "another user's keys (needs list on sshkeys: admins)")
	list.Flags().StringVarP(&output, "output", "o", "", "json or yaml for a script")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an SSH key (by ID or SHA256: fingerprint): pushes with it are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.backend()
			if err != nil {
				return err
			}
			if err := b.RemoveSSHKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(io.out, "SSH key %s removed\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{add, list, remove} {
		f.addConfigOnly(c)
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// readPublicKey reads the public key to add from file ("-": stdin; "":
// the first of defaultSSHKeyFiles that exists) and says where it came
// from.
func readPublicKey(stdin io.Reader, file string) (string, string, error) {
	var b []byte
	var err error
	switch file {
	case "-":
		file = "standard input"
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	case "":
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", "", fmt.Errorf("find your SSH key: %w; name the .pub file: skiff keys add FILE", herr)
		}
		var tried []string
		for _, name := range defaultSSHKeyFiles {
			p := filepath.Join(home, ".ssh", name)
			tried = append(tried, p)
			if b, err = os.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
				file = p
				break
			}
		}
		if file == "" {
			return "", "", fmt.Errorf("no SSH public key at %s: make one with ssh-keygen -t ed25519, or name the .pub file: skiff keys add FILE", strings.Join(tried, " or "))
		}
	default:
		b, err = os.ReadFile(file)
		if err == nil && strings.Contains(string(b), "PRIVATE KEY") {
			return "", "", fmt.Errorf("%s is a private key, which never leaves your machine: give the public one, %s.pub", file, file)
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("read the SSH public key: %w", err)
	}
	return strings.TrimSpace(string(b)), file, nil
}

// defaultKeyName is the key's comment, else this machine's name.
func defaultKeyName(line string) string {
	if _, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil && strings.TrimSpace(comment) != "" {
		return ""
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return ""
}

// sshHost is the host of the server's URL with git's SSH port.
func sshHost(server string) string {
	host := "HOST"
	if u, err := url.Parse(server); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return net.JoinHostPort(host, "2222")
}

func printSSHKeys(w io.Writer, ks []client.SSHKey, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUSER\tTYPE\tFINGERPRINT\tAGE")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, printable(k.Name), k.User, k.Type, k.Fingerprint, humanAge(api.Time{Time: k.Created}, now))
	}
	return tw.Flush()
}

// printable keeps control characters of a name someone chose off the
// terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
