package build

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseProcfile(t *testing.T) {
	got, err := ParseProcfile(strings.NewReader("# processes\nweb: gunicorn app:app --bind :$PORT\n\nworker:  celery -A app worker\nclock-2_x: ./clock\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web": "gunicorn app:app --bind :$PORT", "worker": "celery -A app worker", "clock-2_x": "./clock"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	bad := []struct{ in, want string }{
		{"web: a\nweb: b", "Procfile line 2: process type \"web\" is already defined on line 1"},
		{"\nweb:", "Procfile line 2: process type \"web\" has no command"},
		{"web ./server", "Procfile line 1: want \"name: command\""},
		{"web.1: x", "Procfile line 1: process type \"web.1\": use only letters"},
		{": x", "Procfile line 1: process type \"\""},
	}
	for _, b := range bad {
		_, err := ParseProcfile(strings.NewReader(b.in))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: got %v, want %q", b.in, err, b.want)
		}
	}
}

func TestRequireWeb(t *testing.T) {
	if web, err := RequireWeb(map[string]string{"web": "x"}); err != nil || web != "x" {
		t.Errorf("got %q, %v", web, err)
	}
	if _, err := RequireWeb(map[string]string{"worker": "x"}); !errors.Is(err, ErrNoWeb) {
		t.Errorf("got %v, want ErrNoWeb", err)
	}
}

func FuzzParseProcfile(f *testing.F) {
	f.Add("web: ./server\nworker: ./w\n")
	f.Add("web:\n")
	f.Fuzz(func(t *testing.T, s string) {
		procs, err := ParseProcfile(strings.NewReader(s))
		if err != nil {
			return
		}
		for k, v := range procs {
			if !processName.MatchString(k) || v == "" {
				t.Errorf("accepted %q: %q", k, v)
			}
		}
	})
}

func FuzzParseDockerfile(f *testing.F) {
	f.Add("FROM alpine AS a\nARG X=${Y:-z}\nCOPY --from=a $X /x\nRUN echo\n")
	f.Add("FROM a\nEXPOSE $P\nWORKDIR ${W:?}")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseDockerfile(strings.NewReader(s), map[string]string{"Y": "1"})
		if err != nil {
			return
		}
		if len(p.Stages) == 0 {
			t.Errorf("a plan with no stages")
		}
		p.Port()
	})
}
