package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// probeTCP connects to host:port and closes the connection at once;
// connecting is success.
func probeTCP(ctx context.Context, host string, port int, timeout time.Duration) (Result, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Failure, timedOut("tcpSocket "+addr, timeout)
		}
		return Failure, fmt.Sprintf("tcpSocket %s: %v", addr, err)
	}
	conn.Close()
	return Success, ""
}
