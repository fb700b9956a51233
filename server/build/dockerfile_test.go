package build

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func parse(t *testing.T, df string, args map[string]string) *Plan {
	t.Helper()
	p, err := ParseDockerfile(strings.NewReader(df), args)
	if err != nil {
		t.Fatalf("ParseDockerfile: %v\n%s", err, df)
	}
	return p
}

func lastStep(p *Plan) Step {
	s := p.Stages[len(p.Stages)-1].Steps
	return s[len(s)-1]
}

func TestParseInstructions(t *testing.T) {
	sh := func(c string) []string { return []string{"/bin/sh", "-c", c} }
	tests := []struct {
		name string
		df   string
		want Step // Kind, Line, Args, Dest, Chown, Chmod, Extract, FromStage, FromImage compared
	}{
		{"run shell", "FROM alpine\nRUN echo hi  there", Step{Kind: StepRun, Line: 2, Args: sh("echo hi  there"), FromStage: -1}},
		{"run exec", "FROM alpine\nRUN [\"echo\", \"$HOME\"]", Step{Kind: StepRun, Line: 2, Args: []string{"echo", "$HOME"}, FromStage: -1}},
		{"run continued", "FROM alpine\n\nRUN echo a \\\n  b", Step{Kind: StepRun, Line: 3, Args: sh("echo a   b"), FromStage: -1}},
		{"copy", "FROM alpine\nWORKDIR /app\nCOPY a b ./", Step{Kind: StepCopy, Line: 3, Args: []string{"a", "b"}, Dest: "/app/", FromStage: -1}},
		{"copy flags", "FROM alpine\nCOPY --chown=1000:1000 --chmod=0755 run.sh /usr/bin/run", Step{Kind: StepCopy, Line: 2, Args: []string{"run.sh"}, Dest: "/usr/bin/run", Chown: "1000:1000", Chmod: "0755", FromStage: -1}},
		{"copy from image", "FROM alpine\nCOPY --from=nginx:1 /etc/nginx /etc/nginx", Step{Kind: StepCopy, Line: 2, Args: []string{"/etc/nginx"}, Dest: "/etc/nginx", FromStage: -1, FromImage: "nginx:1"}},
		{"copy from stage", "FROM golang AS build\nRUN make\nFROM alpine\nCOPY --from=build /out /bin/", Step{Kind: StepCopy, Line: 4, Args: []string{"/out"}, Dest: "/bin/", FromStage: 0}},
		{"copy from stage index", "FROM golang\nFROM alpine\nCOPY --from=0 /out /bin/", Step{Kind: StepCopy, Line: 3, Args: []string{"/out"}, Dest: "/bin/", FromStage: 0}},
		{"add", "FROM alpine\nADD app.tar.gz /opt/", Step{Kind: StepAdd, Line: 2, Args: []string{"app.tar.gz"}, Dest: "/opt/", Extract: true, FromStage: -1}},
		{"add no unpack", "FROM alpine\nADD --unpack=false app.tar.gz /opt/", Step{Kind: StepAdd, Line: 2, Args: []string{"app.tar.gz"}, Dest: "/opt/", FromStage: -1}},
		{"env", "FROM alpine\nENV A=1 B=\"two words\"", Step{Kind: StepEnv, Line: 2, Args: []string{"A=1", "B=two words"}, FromStage: -1}},
		{"env legacy", "FROM alpine\nENV A one two", Step{Kind: StepEnv, Line: 2, Args: []string{"A=one two"}, FromStage: -1}},
		{"arg", "FROM alpine\nARG V=1 W", Step{Kind: StepArg, Line: 2, Args: []string{"V=1", "W"}, FromStage: -1}},
		{"workdir relative", "FROM alpine\nWORKDIR /a\nWORKDIR b/../c", Step{Kind: StepWorkdir, Line: 3, Args: []string{"/a/c"}, FromStage: -1}},
		{"workdir relative to base", "FROM golang\nWORKDIR b\nWORKDIR c", Step{Kind: StepWorkdir, Line: 3, Args: []string{"b/c"}, FromStage: -1}},
		{"copy relative to base", "FROM golang\nCOPY . .", Step{Kind: StepCopy, Line: 2, Args: []string{"."}, Dest: "./", FromStage: -1}},
		{"copy to root", "FROM golang\nCOPY a /", Step{Kind: StepCopy, Line: 2, Args: []string{"a"}, Dest: "/", FromStage: -1}},
		{"user", "FROM alpine\nUSER app:app", Step{Kind: StepUser, Line: 2, Args: []string{"app:app"}, FromStage: -1}},
		{"expose", "FROM alpine\nEXPOSE 80 53/udp 8000-8010", Step{Kind: StepExpose, Line: 2, Args: []string{"53/udp", "80/tcp", "8000-8010/tcp"}, FromStage: -1}},
		{"cmd shell", "FROM alpine\nCMD ./server --port 1", Step{Kind: StepCmd, Line: 2, Args: sh("./server --port 1"), FromStage: -1}},
		{"cmd exec", "FROM alpine\nCMD [\"./server\"]", Step{Kind: StepCmd, Line: 2, Args: []string{"./server"}, FromStage: -1}},
		{"entrypoint", "FROM alpine\nENTRYPOINT [\"tini\", \"--\"]", Step{Kind: StepEntrypoint, Line: 2, Args: []string{"tini", "--"}, FromStage: -1}},
		{"label", "FROM alpine\nLABEL a=b \"c d\"=e", Step{Kind: StepLabel, Line: 2, Args: []string{"a=b", "c d=e"}, FromStage: -1}},
		{"shell", "FROM alpine\nSHELL [\"/bin/bash\", \"-ec\"]", Step{Kind: StepShell, Line: 2, Args: []string{"/bin/bash", "-ec"}, FromStage: -1}},
		{"shell used", "FROM alpine\nSHELL [\"/bin/bash\", \"-ec\"]\nRUN x", Step{Kind: StepRun, Line: 3, Args: []string{"/bin/bash", "-ec", "x"}, FromStage: -1}},
		{"stopsignal", "FROM alpine\nSTOPSIGNAL SIGINT", Step{Kind: StepStopSignal, Line: 2, Args: []string{"SIGINT"}, FromStage: -1}},
		{"maintainer ignored", "FROM alpine\nRUN x\nMAINTAINER me", Step{Kind: StepRun, Line: 2, Args: sh("x"), FromStage: -1}},
		{"lowercase", "from alpine\nrun x", Step{Kind: StepRun, Line: 2, Args: sh("x"), FromStage: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lastStep(parse(t, tt.df, nil))
			g := Step{Kind: got.Kind, Line: got.Line, Args: got.Args, Dest: got.Dest, Chown: got.Chown, Chmod: got.Chmod,
				Extract: got.Extract, FromStage: got.FromStage, FromImage: got.FromImage}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("got  %+v\nwant %+v", g, tt.want)
			}
		})
	}
}

func TestParseHealthcheck(t *testing.T) {
	p := parse(t, "FROM alpine\nHEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD wget -q localhost", nil)
	want := &Healthcheck{Test: []string{"CMD-SHELL", "wget -q localhost"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 3}
	if !reflect.DeepEqual(p.Healthcheck, want) {
		t.Errorf("got %+v, want %+v", p.Healthcheck, want)
	}
	p = parse(t, "FROM alpine\nHEALTHCHECK NONE", nil)
	if !reflect.DeepEqual(p.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("HEALTHCHECK NONE: got %v", p.Healthcheck.Test)
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name, df, want string
	}{
		{"volume", "FROM alpine\nRUN x\nVOLUME /data", "line 3: VOLUME is not supported by skiff's builder; "},
		{"onbuild", "FROM alpine\n\nonbuild RUN x", "line 3: ONBUILD is not supported by skiff's builder; "},
		{"unknown", "FROM alpine\nFROB x", "line 2: unknown instruction: FROB"},
		{"add url", "FROM alpine\nRUN x\nADD https://example.com/a.tgz /a", "line 3: ADD https://example.com/a.tgz: URL and git sources are not supported by skiff's builder"},
		{"add git", "FROM alpine\nADD git@github.com:a/b.git /src", "line 2: ADD git@github.com:a/b.git: URL and git sources are not supported"},
		{"add checksum", "FROM alpine\nADD --checksum=sha256:00 a /a", "line 2: ADD --checksum and --keep-git-dir"},
		{"run mount", "FROM alpine\nRUN --mount=type=cache,target=/c make", "line 2: RUN --mount is not supported by skiff's builder"},
		{"run network", "FROM alpine\nRUN --network=none make", "line 2: RUN --network is not supported by skiff's builder"},
		{"run heredoc", "FROM alpine\nRUN <<EOF\necho\nEOF", "line 2: RUN: heredocs (<<EOF) are not supported"},
		{"copy heredoc", "FROM alpine\nCOPY <<EOF /a\nx\nEOF", "line 2: COPY: heredoc sources"},
		{"copy parents", "FROM alpine\nCOPY --parents a/b /x/", "line 2: COPY --parents is not supported"},
		{"copy exclude", "FROM alpine\nCOPY --exclude=*.md . /x/", "line 2: COPY --exclude is not supported"},
		{"copy bad chmod", "FROM alpine\nCOPY --chmod=u+x a /a", "line 2: COPY: --chmod=u+x: want an octal mode"},
		{"copy many to file", "FROM alpine\nCOPY a b /dest", "line 2: COPY: with 2 sources the destination \"/dest\" must be a directory ending in /"},
		{"no from", "ARG A=1\n", "no FROM instruction"},
		{"instruction before from", "RUN x\nFROM alpine", "line 1: no build stage in current context"},
		{"bad expose", "FROM alpine\nEXPOSE 99999", "line 2: EXPOSE: port \"99999\""},
		{"empty expose port", "FROM alpine\nEXPOSE /tcp", "line 2: EXPOSE: port \"/tcp\""},
		{"backwards expose range", "FROM alpine\nEXPOSE 90-80", "line 2: EXPOSE: port \"90-80\""},
		{"from numbered stage", "FROM alpine\nFROM 0", "line 2: FROM 0: a stage is named, not numbered"},
		{"bad expose proto", "FROM alpine\nEXPOSE 80/icmp", "line 2: EXPOSE: port \"80/icmp\": protocol"},
		{"unknown stage index", "FROM alpine\nCOPY --from=1 /a /a", "line 2: COPY: --from: unknown stage 1: there are 0 stages before this instruction"},
		{"later stage", "FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b", "line 2: COPY: --from: stage \"b\" is defined at line 3, not before this instruction"},
		{"from later stage", "FROM later\nFROM alpine AS later", "line 1: FROM: stage \"later\" is defined at line 2"},
		{"from itself", "FROM me AS me", "line 1: stage \"me\" is FROM itself"},
		{"from empty", "ARG IMG\nFROM $IMG", "line 2: FROM $IMG expands to an empty image name"},
		{"bad modifier", "FROM alpine\nARG V=abc\nWORKDIR ${V%c}", "line 3: WORKDIR: expand \"${V%c}\": unsupported modifier"},
		{"required var", "FROM alpine\nWORKDIR ${NOPE:?set NOPE}", "line 2: WORKDIR: expand \"${NOPE:?set NOPE}\": NOPE: set NOPE"},
		{"healthcheck bad", "FROM alpine\nHEALTHCHECK --interval=x CMD true", "line 2: "},
		{"copy no dest", "FROM alpine\n\nCOPY onlyone", "line 3: COPY requires at least two arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDockerfile(strings.NewReader(tt.df), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestArgEnvExpansion(t *testing.T) {
	df := `ARG BASE=alpine
ARG TAG=3
FROM ${BASE}:${TAG} AS base
ARG TAG
ARG DIR=/srv
ENV APP=$DIR/app HOME_DIR="${DIR}/home"
WORKDIR $APP
ARG DIR=/over
COPY ${UNSET:-fallback} ${APP:+set}/
USER ${USER_NAME:-nobody}
LABEL version=$TAG quoted='$TAG' esc=\$TAG
ENV DIR=/env
LABEL dir=$DIR
RUN echo $DIR
`
	p := parse(t, df, map[string]string{"TAG": "3.20", "UNUSED": "x"})
	st := p.Stages[0]
	if st.From != "alpine:3.20" {
		t.Errorf("From = %q, want alpine:3.20 (build arg overrides meta ARG)", st.From)
	}
	steps := st.Steps
	checks := []struct {
		i    int
		want []string
	}{
		{0, []string{"TAG=3.20"}},
		{1, []string{"DIR=/srv"}},
		{2, []string{"APP=/srv/app", "HOME_DIR=/srv/home"}},
		{3, []string{"/srv/app"}},
		{4, []string{"DIR=/over"}},
		{5, []string{"fallback"}},
		{6, []string{"nobody"}},
		{7, []string{"version=3.20", "quoted=$TAG", "esc=$TAG"}},
		{9, []string{"dir=/env"}}, // ENV wins over ARG
	}
	for _, c := range checks {
		if got := steps[c.i].Args; !reflect.DeepEqual(got, c.want) {
			t.Errorf("step %d (%s, line %d): got %q, want %q", c.i, steps[c.i].Kind, steps[c.i].Line, got, c.want)
		}
	}
	if got := steps[5].Dest; got != "/srv/app/set/" {
		t.Errorf("COPY dest = %q, want /srv/app/set/", got)
	}
	run := steps[10]
	wantEnv := []string{"APP=/srv/app", "HOME_DIR=/srv/home", "DIR=/env", "TAG=3.20"}
	if !reflect.DeepEqual(run.Env, wantEnv) {
		t.Errorf("RUN env = %q, want %q", run.Env, wantEnv)
	}
	if !reflect.DeepEqual(p.UnusedBuildArgs, []string{"UNUSED"}) {
		t.Errorf("UnusedBuildArgs = %v, want [UNUSED]", p.UnusedBuildArgs)
	}
	if p.Config.WorkingDir != "/srv/app" || p.Config.User != "nobody" {
		t.Errorf("config workdir %q user %q", p.Config.WorkingDir, p.Config.User)
	}
	if !reflect.DeepEqual(p.Config.Env, []string{"APP=/srv/app", "HOME_DIR=/srv/home", "DIR=/env"}) {
		t.Errorf("config env (no ARGs) = %q", p.Config.Env)
	}
}

func TestArgScoping(t *testing.T) {
	df := "ARG V=meta\nFROM alpine\nRUN a\nARG V\nRUN b\nFROM alpine\nRUN c\nARG TARGETARCH\nRUN d"
	p := parse(t, df, nil)
	env := func(s, i int) []string { return p.Stages[s].Steps[i].Env }
	if got := env(0, 0); len(got) != 0 {
		t.Errorf("meta ARG leaked into stage before ARG V: %q", got)
	}
	if got := env(0, 2); !reflect.DeepEqual(got, []string{"V=meta"}) {
		t.Errorf("ARG V without default: env %q, want [V=meta]", got)
	}
	if got := env(1, 0); len(got) != 0 {
		t.Errorf("ARG leaked across stages: %q", got)
	}
	if got := env(1, 2); !reflect.DeepEqual(got, []string{"TARGETARCH=" + runtime.GOARCH}) {
		t.Errorf("automatic ARG TARGETARCH: %q", got)
	}
	p = parse(t, "FROM alpine\nRUN x", map[string]string{"HTTP_PROXY": "http://p:3128"})
	if got := p.Stages[0].Steps[0].Env; !reflect.DeepEqual(got, []string{"HTTP_PROXY=http://p:3128"}) {
		t.Errorf("proxy build arg: RUN env %q", got)
	}
	if len(p.UnusedBuildArgs) != 0 {
		t.Errorf("proxy arg reported unused")
	}
}

func TestMultiStage(t *testing.T) {
	df := `FROM golang:1 AS Build
ENV CGO_ENABLED=0
WORKDIR /src
RUN go build -o /out/app .
FROM alpine AS unused
RUN echo never
FROM build AS test
RUN go test ./...
FROM alpine
COPY --from=build /out/app /app
CMD ["/app"]
`
	p := parse(t, df, nil)
	if len(p.Stages) != 4 {
		t.Fatalf("got %d stages", len(p.Stages))
	}
	if p.Stages[0].Name != "build" {
		t.Errorf("stage name %q, want lowercased build", p.Stages[0].Name)
	}
	test := p.Stages[2]
	if test.BaseStage != 0 || test.Config.WorkingDir != "/src" || !reflect.DeepEqual(test.Steps[0].Env, []string{"CGO_ENABLED=0"}) {
		t.Errorf("stage from stage: base %d workdir %q env %q", test.BaseStage, test.Config.WorkingDir, test.Steps[0].Env)
	}
	need := []bool{true, false, false, true}
	for i, s := range p.Stages {
		if s.Needed != need[i] {
			t.Errorf("stage %d Needed = %v, want %v", i, s.Needed, need[i])
		}
	}
	for i, s := range p.Steps() {
		if s.Index != i {
			t.Errorf("step %d has Index %d", i, s.Index)
		}
	}
	if p.Config.WorkingDir != "" || len(p.Config.Env) != 0 || !reflect.DeepEqual(p.Config.Cmd, []string{"/app"}) {
		t.Errorf("final config inherits from the wrong stage: %+v", p.Config)
	}
}

func TestImageConfig(t *testing.T) {
	base := v1.ImageConfig{Env: []string{"PATH=/bin", "A=base"}, Cmd: []string{"sh"}, WorkingDir: "/", Labels: map[string]string{"l": "base"}}
	p := parse(t, "FROM base AS b\nENV A=mine\nFROM b\nENTRYPOINT [\"tini\"]\nEXPOSE 8080\nLABEL m=1", nil)
	got := p.ImageConfig(base)
	want := v1.ImageConfig{
		Env: []string{"PATH=/bin", "A=mine"}, Entrypoint: []string{"tini"}, WorkingDir: "/",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}}, Labels: map[string]string{"l": "base", "m": "1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if base.Labels["m"] != "" || len(base.Env) != 2 {
		t.Errorf("ImageConfig modified its argument")
	}
	p = parse(t, "FROM base AS b\nWORKDIR src\nFROM b\nWORKDIR cmd", nil)
	if got := p.ImageConfig(v1.ImageConfig{WorkingDir: "/go"}).WorkingDir; got != "/go/src/cmd" {
		t.Errorf("relative WORKDIRs over base WorkingDir /go: got %q, want /go/src/cmd", got)
	}
	if got := p.ImageConfig(v1.ImageConfig{}).WorkingDir; got != "/src/cmd" {
		t.Errorf("relative WORKDIRs over no base WorkingDir: got %q, want /src/cmd", got)
	}
	p = parse(t, "FROM base\nCMD [\"x\"]\nENTRYPOINT [\"tini\"]", nil)
	if got := p.ImageConfig(base).Cmd; !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("CMD set before ENTRYPOINT in the same stage must stay: %q", got)
	}
}

func TestWarnings(t *testing.T) {
	p := parse(t, "FROM alpine\nRUN a \\\n\n  b", nil)
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "Empty continuation line") {
		t.Errorf("Warnings = %q, want the empty continuation line warning", p.Warnings)
	}
}

func TestPort(t *testing.T) {
	tests := []struct {
		df   string
		port int
		ok   bool
	}{
		{"FROM a\nEXPOSE 3000", 3000, true},
		{"FROM a\nEXPOSE 3000/tcp", 3000, true},
		{"FROM a\nEXPOSE 3000\nEXPOSE 3000/tcp", 3000, true},
		{"FROM a", 0, false},
		{"FROM a\nEXPOSE 53/udp", 0, false},
		{"FROM a\nEXPOSE 80 443", 0, false},
		{"FROM a\nEXPOSE 8000-8001", 0, false},
		{"FROM a\nARG P=9000\nEXPOSE $P", 9000, true},
	}
	for _, tt := range tests {
		port, ok := parse(t, tt.df, nil).Port()
		if port != tt.port || ok != tt.ok {
			t.Errorf("%q: Port() = %d, %v; want %d, %v", tt.df, port, ok, tt.port, tt.ok)
		}
	}
}

func TestExpander(t *testing.T) {
	v := vars{"A": "x", "E": ""}
	tests := []struct{ in, want string }{
		{"$A", "x"}, {"${A}b", "xb"}, {"$Ab", ""}, {"$", "$"}, {"a$", "a$"},
		{"${E:-d}", "d"}, {"${E-d}", ""}, {"${U-d}", "d"}, {"${A:-d}", "x"},
		{"${A:+y}", "y"}, {"${E:+y}", ""}, {"${E+y}", "y"}, {"${U+y}", ""},
		{`'$A'`, "$A"}, {`"$A b"`, "x b"}, {`\$A`, "$A"}, {`"\$A"`, "$A"}, {`"a\b"`, `a\b`},
		{"${U:-$A}", "x"}, {"${U:-'q'}", "q"},
	}
	exp := v.expander('\\')
	for _, tt := range tests {
		got, err := exp(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("expand %s = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"${A", "${}", `"open`, "'open", "${A/x/y}", "${U?}"} {
		if got, err := exp(bad); err == nil {
			t.Errorf("expand %s = %q, want an error", bad, got)
		}
	}
	if got, _ := v.expander('`')("`$A"); got != "$A" {
		t.Errorf("escape=` directive: got %q", got)
	}
}

func TestEscapeDirective(t *testing.T) {
	p := parse(t, "# escape=`\nFROM alpine\nARG A=1\nWORKDIR C:\\`$A", nil)
	if got := lastStep(p).Args[0]; got != `C:\$A` {
		t.Errorf("WORKDIR with escape=`: got %q", got)
	}
}

func BenchmarkParseDockerfile(b *testing.B) {
	df := strings.Repeat("FROM golang:1 AS build\nARG V=1\nENV A=$V B=${V:-x}\nWORKDIR /src\nCOPY go.mod go.sum* ./\nRUN go mod download\nCOPY . .\nRUN go build -o /out/app .\n", 5) +
		"FROM alpine\nCOPY --from=build /out/app /app\nEXPOSE 8080\nCMD [\"/app\"]\n"
	for b.Loop() {
		if _, err := ParseDockerfile(strings.NewReader(df), map[string]string{"V": "2"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestArgsInheritedFromBaseStage: a stage FROM another inherits the ARGs
// in scope at its end (BuildKit's dockerfile2llb does), ENV too.
func TestArgsInheritedFromBaseStage(t *testing.T) {
	p, err := ParseDockerfile(strings.NewReader("FROM alpine AS a\nARG V=2\nENV E=1\nFROM a\nENV X=$V Y=$E\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(p.Stages[1].Config.Env, " ")
	if !strings.Contains(env, "X=2") || !strings.Contains(env, "Y=1") {
		t.Errorf("env of the stage FROM a: %q, want X=2 and Y=1", env)
	}
	// A stage FROM an image starts with no ARGs.
	p, err = ParseDockerfile(strings.NewReader("FROM alpine AS a\nARG V=2\nFROM alpine\nENV X=$V\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if env := strings.Join(p.Stages[1].Config.Env, " "); !strings.Contains(env, "X=") || strings.Contains(env, "X=2") {
		t.Errorf("env of a stage FROM an image: %q, want X empty", env)
	}
}

// TestBaseImageEnvInScope: with the base images' configs, a variable the
// base image's ENV sets expands as in Docker (ENV PATH=/app/bin:$PATH
// keeps the image's PATH), also in a stage FROM that stage; without them
// it is "" (ParseDockerfile's documented limit); an unknown image is an
// error naming the line.
func TestBaseImageEnvInScope(t *testing.T) {
	df := "FROM node:20 AS base\nENV PATH=/app/node_modules/.bin:$PATH\nWORKDIR $HOME/app\nFROM base\nENV P2=$PATH\n"
	base := func(ref, _ string) (v1.ImageConfig, error) {
		if ref != "node:20" {
			return v1.ImageConfig{}, fmt.Errorf("image %s not found", ref)
		}
		return v1.ImageConfig{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"}}, nil
	}
	p, err := ParseDockerfileWith(strings.NewReader(df), ParseOptions{BaseConfig: base})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(p.Stages[0].Config.Env, " ")
	if !strings.Contains(env, "PATH=/app/node_modules/.bin:/usr/local/bin:/usr/bin:/bin") {
		t.Errorf("stage 0 env %q: the base image's PATH was lost", env)
	}
	if wd := p.Stages[0].Config.WorkingDir; wd != "/root/app" {
		t.Errorf("WORKDIR $HOME/app = %q, want /root/app", wd)
	}
	if env := strings.Join(p.Stages[1].Config.Env, " "); !strings.Contains(env, "P2=/app/node_modules/.bin:/usr/local/bin") {
		t.Errorf("stage FROM base: %q, want the inherited PATH", env)
	}
	if _, err := ParseDockerfileWith(strings.NewReader("FROM nothing:1\nENV X=1\n"), ParseOptions{BaseConfig: base}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("an unknown base image: %v, want an error naming line 1", err)
	}
}
