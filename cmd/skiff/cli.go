package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// clientFlags are the flags every client verb takes.
type clientFlags struct {
	config    string
	namespace string
	dataDir   string
}

func (f *clientFlags) add(cmd *cobra.Command) {
	f.addConfigOnly(cmd)
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "default", "namespace")
}

// backend connects to the server named by the config.
func (f *clientFlags) backend() (*client.HTTP, error) {
	_, b, err := f.configAndBackend()
	return b, err
}

func addClientCommands(root *cobra.Command, io streams) {
	root.AddCommand(
		newApplyCommand(io),
		newGetCommand(io),
		newDescribeCommand(io),
		newDeleteCommand(io),
		newLogsCommand(io),
		newRunCommand(io),
		newExecCommand(io),
		newVersionCommand(io),
		newRolloutCommand(io),
		newScaleCommand(io),
		newLabelCommand(io),
		newJoinTokenCommand(io),
		newWhoAmICommand(io),
		newAuditCommand(io),
		newLoginCommand(io),
		newLogoutCommand(io),
		newTokenCommand(io),
		newKeysCommand(io),
		newUsersCommand(io),
		newAppsCommand(io),
		newConfigCommand(io),
		newPsCommand(io),
		newDomainsCommand(io),
		newReleasesCommand(io),
		newBuildsCommand(io),
		newGitRemoteCommand(io),
	)
}

// lookupKind resolves what a person calls a kind, or says which exist.
func lookupKind(name string) (api.Kind, error) {
	if k, ok := api.LookupResource(name); ok {
		return k, nil
	}
	var names []string
	for _, k := range api.Kinds() {
		n := k.Resource
		if len(k.ShortNames) > 0 {
			n += " (" + strings.Join(k.ShortNames, ", ") + ")"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return api.Kind{}, fmt.Errorf("unknown kind %q; skiff knows: %s", name, strings.Join(names, ", "))
}

// namespaceFor is the namespace a request about kind k goes to.
func namespaceFor(k api.Kind, ns string) string {
	if !k.Namespaced {
		return ""
	}
	return ns
}

// refName is how the CLI names an object: deployment/web.
func refName(k api.Kind, name string) string {
	return strings.ToLower(k.Kind) + "/" + name
}
