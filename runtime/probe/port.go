package probe

import (
	"fmt"

	"github.com/skiffhq/skiff/server/api"
)

// resolvePort turns a probe's port, a number or the name of one of the
// container's ports, into a port number.
func resolvePort(port api.IntOrString, c *api.Container) (int, error) {
	if port.Type == api.StringType {
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				return checkPort(int(p.ContainerPort), port)
			}
		}
		names := make([]string, 0, len(c.Ports))
		for _, p := range c.Ports {
			if p.Name != "" {
				names = append(names, p.Name)
			}
		}
		return 0, fmt.Errorf("port %q: container %q has no port of that name (named ports: %q)", port.StrVal, c.Name, names)
	}
	return checkPort(int(port.IntVal), port)
}

// checkPort checks that n is a TCP port number.
func checkPort(n int, port api.IntOrString) (int, error) {
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s: %d is not a port number (1-65535)", port, n)
	}
	return n, nil
}
