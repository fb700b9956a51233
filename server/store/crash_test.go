package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestCrashKeepsAcknowledgedWrites runs writers in a child process, kills
// it with SIGKILL mid-stream, and checks that every write the child was
// told had succeeded is in the reopened database with its revision.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if path := os.Getenv("SKIFF_STORE_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedWrites$")
	cmd.Env = append(os.Environ(), "SKIFF_STORE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(10 * time.Second)
	for sc.Scan() && len(acked) < 2000 && time.Now().Before(deadline) {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ack" {
			r, _ := strconv.ParseInt(f[2], 10, 64)
			acked[f[1]] = r
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	// Acks already printed but not yet read still count.
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ack" {
			r, _ := strconv.ParseInt(f[2], 10, 64)
			acked[f[1]] = r
		}
	}
	cmd.Wait()
	if len(acked) < 100 {
		t.Fatalf("child acknowledged only %d writes before the kill", len(acked))
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("database inconsistent after kill: %v", err)
	}
	db.Close()

	s := newStore(t, Config{Path: path})
	for name, want := range acked {
		got, err := s.Get(ctx, podKey("default", name))
		if err != nil {
			t.Errorf("acknowledged %s lost: %v", name, err)
			continue
		}
		if rv(got) != want {
			t.Errorf("%s: rv %d after restart, acknowledged %d", name, rv(got), want)
		}
	}
	t.Logf("%d acknowledged writes, all kept; revision after restart %d", len(acked), s.Revision())
}

func crashChild(path string) {
	s, err := Open(Config{Path: path})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("g%d-%d", g, i)
				obj, err := s.Create(ctx, pod("default", name, "", nil))
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Printf("ack %s %d\n", name, rv(obj))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
