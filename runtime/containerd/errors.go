package containerd

import (
	"errors"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// classed is a containerd error that also carries skiff's class for it:
// its text is containerd's, errors.Is finds both.
type classed struct{ err, class error }

func (e classed) Error() string   { return e.err.Error() }
func (e classed) Unwrap() []error { return []error{e.err, e.class} }

// classify gives a containerd (or raw gRPC) error the errdefs class
// skiff's callers test for; errors of no known class come back as they
// are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		err = errgrpc.ToNative(err)
	}
	var class error
	switch {
	case errors.Is(err, docker.ErrInvalidAuthorization), cerrdefs.IsUnauthorized(err):
		class = errdefs.ErrUnauthorized
	case cerrdefs.IsPermissionDenied(err):
		class = errdefs.ErrForbidden
	case cerrdefs.IsNotFound(err):
		class = errdefs.ErrNotFound
	case cerrdefs.IsAlreadyExists(err):
		class = errdefs.ErrAlreadyExists
	case cerrdefs.IsInvalidArgument(err):
		class = errdefs.ErrInvalid
	case cerrdefs.IsUnavailable(err):
		class = errdefs.ErrUnavailable
	default:
		return err
	}
	return classed{err: err, class: class}
}
