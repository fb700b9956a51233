package containerd

import (
	"errors"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"not found", fmt.Errorf("container x: %w", cerrdefs.ErrNotFound), errdefs.ErrNotFound},
		{"grpc not found", errgrpc.ToGRPC(fmt.Errorf("container x: %w", cerrdefs.ErrNotFound)), errdefs.ErrNotFound},
		{"exists", cerrdefs.ErrAlreadyExists, errdefs.ErrAlreadyExists},
		{"invalid", cerrdefs.ErrInvalidArgument, errdefs.ErrInvalid},
		{"unavailable", errgrpc.ToGRPC(cerrdefs.ErrUnavailable), errdefs.ErrUnavailable},
		{"other", errors.New("boom"), nil},
	}
	for _, tt := range tests {
		got := classify(tt.err)
		if tt.want == nil {
			if got != tt.err {
				t.Errorf("%s: got %v, want the error unchanged", tt.name, got)
			}
			continue
		}
		if !errors.Is(got, tt.want) {
			t.Errorf("%s: got %v, not of class %v", tt.name, got, tt.want)
		}
		if wrapped := fmt.Errorf("op: %w", got); !errors.Is(wrapped, tt.want) {
			t.Errorf("%s: wrapped %v lost class %v", tt.name, wrapped, tt.want)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}
