package worker

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/server/client"
)

func TestRun(t *testing.T) {
	q := client.NewQueue[string](nil)
	var mu sync.Mutex
	synced := map[string]int{}
	var failures []string
	syncKey := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		synced[key]++
		if key == "ns/bad" && synced[key] == 1 {
			return errors.New("boom")
		}
		if synced["ns/good"] == 1 && synced["ns/bad"] == 2 {
			q.ShutDown()
		}
		return nil
	}
	failed := func(key string, err error) { failures = append(failures, key+": "+err.Error()) }
	q.Add("ns/bad")
	q.Add("ns/good")
	Run(context.Background(), q, syncKey, failed)
	if synced["ns/good"] != 1 || synced["ns/bad"] != 2 {
		t.Errorf("synced %v, want ns/good once and ns/bad twice (retried)", synced)
	}
	if len(failures) != 1 || failures[0] != "ns/bad: boom" {
		t.Errorf("failures = %q, want [ns/bad: boom]", failures)
	}
	if n := q.NumRequeues("ns/bad"); n != 0 {
		t.Errorf("ns/bad requeues = %d after it succeeded, want 0 (forgotten)", n)
	}
}
