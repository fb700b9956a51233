package gitpush

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

const (
	idA = "1111111111111111111111111111111111111111"
	idB = "2222222222222222222222222222222222222222"
)

func TestParseRefUpdates(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []RefUpdate
		wantErr  string
	}{
		{"one", idA + " " + idB + " refs/heads/main\n", []RefUpdate{{idA, idB, "refs/heads/main"}}, ""},
		{"create and delete", ZeroID + " " + idA + " refs/heads/x\n" + idB + " " + ZeroID + " refs/tags/v1\n",
			[]RefUpdate{{ZeroID, idA, "refs/heads/x"}, {idB, ZeroID, "refs/tags/v1"}}, ""},
		{"empty", "", nil, ""},
		{"sha256", strings.Repeat("a", 64) + " " + strings.Repeat("b", 64) + " refs/heads/main\n",
			[]RefUpdate{{strings.Repeat("a", 64), strings.Repeat("b", 64), "refs/heads/main"}}, ""},
		{"two fields", idA + " refs/heads/main\n", nil, "line 1"},
		{"bad id", "xyz " + idB + " refs/heads/main\n", nil, "line 1"},
		{"not a ref", idA + " " + idB + " main\n", nil, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRefUpdates(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("update %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestRefUpdate(t *testing.T) {
	for _, tc := range []struct {
		u              RefUpdate
		branch         string
		create, delete bool
	}{
		{RefUpdate{idA, idB, "refs/heads/main"}, "main", false, false},
		{RefUpdate{ZeroID, idB, "refs/heads/feature/x"}, "feature/x", true, false},
		{RefUpdate{idA, ZeroID, "refs/tags/v1"}, "", false, true},
	} {
		if got := tc.u.Branch(); got != tc.branch {
			t.Errorf("%v Branch() = %q, want %q", tc.u, got, tc.branch)
		}
		if tc.u.IsCreate() != tc.create || tc.u.IsDelete() != tc.delete {
			t.Errorf("%v IsCreate/IsDelete = %v/%v, want %v/%v", tc.u, tc.u.IsCreate(), tc.u.IsDelete(), tc.create, tc.delete)
		}
	}
}

func TestReadHookRequest(t *testing.T) {
	good := hookMagic + "\ntoken abc\nenv GIT_QUARANTINE_PATH=/r/objects/q\n\n" + idA + " " + idB + " refs/heads/main\n"
	req, err := readHookRequest(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if req.token != "abc" || len(req.env) != 1 || req.env[0] != "GIT_QUARANTINE_PATH=/r/objects/q" || len(req.updates) != 1 {
		t.Errorf("got %+v", req)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"other version", "skiff-git-hook 2\n", "same version"},
		{"no token", hookMagic + "\n\n", "token line"},
		{"foreign env", hookMagic + "\ntoken a\nenv LD_PRELOAD=/x.so\n\n", "bad env line"},
		{"truncated", hookMagic + "\ntoken a\n", "header"},
		{"bad update", hookMagic + "\ntoken a\n\nnonsense\n", "line 1"},
	} {
		if _, err := readHookRequest(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestFramesRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	fw := &frameWriter{w: &wire}
	io.WriteString(fw, "line one\n")
	fw.Write(bytes.Repeat([]byte("x"), 70<<10)) // split over frames
	fw.exit(3)
	var out bytes.Buffer
	code, err := readFrames(&wire, &out)
	if err != nil || code != 3 {
		t.Fatalf("readFrames = %d, %v; want 3, nil", code, err)
	}
	if want := "line one\n" + strings.Repeat("x", 70<<10); out.String() != want {
		t.Errorf("output of %d bytes, want %d", out.Len(), len(want))
	}
	if _, err := readFrames(strings.NewReader("o\x00\x00\x00\x02hi"), io.Discard); err == nil {
		t.Errorf("readFrames without an exit frame: nil error")
	}
}

func TestRunHookWithoutServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"outside a push", nil, "through the skiff server only"},
		{"server down", map[string]string{EnvHookSocket: "/nonexistent/hook.sock", EnvPushToken: "t"}, "cannot reach the skiff server"},
	} {
		var out bytes.Buffer
		code := RunHook(func(k string) string { return tc.env[k] }, strings.NewReader(""), &out)
		if code == 0 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s: RunHook = %d, %q; want non-zero and %q", tc.name, code, out.String(), tc.want)
		}
	}
}

func TestRunHookUnknownToken(t *testing.T) {
	ts := newTestServer(t)
	env := map[string]string{EnvHookSocket: ts.h.cfg.SocketPath, EnvPushToken: "forged"}
	var out bytes.Buffer
	code := RunHook(func(k string) string { return env[k] }, strings.NewReader(idA+" "+idB+" refs/heads/main\n"), &out)
	if code == 0 || !strings.Contains(out.String(), "no push in flight") {
		t.Errorf("RunHook with a forged token = %d, %q; want refused", code, out.String())
	}
	if n := len(ts.receivedPushes()); n != 0 {
		t.Errorf("Receive called %d times, want 0", n)
	}
}

func FuzzReadHookRequest(f *testing.F) {
	f.Add([]byte(hookMagic + "\ntoken abc\nenv GIT_QUARANTINE_PATH=/q\n\n" + idA + " " + idB + " refs/heads/main\n"))
	f.Add([]byte(hookMagic + "\ntoken a\n\n\n\n"))
	f.Add([]byte(hookMagic + "\ntoken \nenv =\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readHookRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if req.token == "" {
			t.Errorf("accepted an empty token")
		}
		for _, u := range req.updates {
			if !objectID.MatchString(u.Old) || !objectID.MatchString(u.New) || !strings.HasPrefix(u.Ref, "refs/") {
				t.Errorf("accepted update %+v", u)
			}
		}
		for _, kv := range req.env {
			k, _, _ := strings.Cut(kv, "=")
			if !isQuarantineVar(k) {
				t.Errorf("accepted env %q", kv)
			}
		}
	})
}
