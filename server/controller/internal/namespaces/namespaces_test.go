package namespaces

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

func TestClosing(t *testing.T) {
	reg, _, ctx := controllertest.Registry(t, time.Minute)
	if Closing(ctx, reg, "default") {
		t.Error("default is closing, want not")
	}
	if !Closing(ctx, reg, "no-such-namespace") {
		t.Error("a missing namespace is not closing, want closing")
	}
	if _, err := client.For[*api.Namespace](reg, "").Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "doomed"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[*api.Namespace](reg, "").Delete(ctx, "doomed", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !Closing(ctx, reg, "doomed") {
		t.Error("a deleted namespace is not closing, want closing")
	}
}
