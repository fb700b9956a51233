package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// StepKind names the instruction a Step comes from.
type StepKind string

// The instructions skiff's builder supports. FROM starts a Stage and is not a
// step; MAINTAINER is accepted and ignored (it is deprecated and sets no
// field of the OCI image config).
const (
	StepRun         StepKind = "RUN"
	StepCopy        StepKind = "COPY"
	StepAdd         StepKind = "ADD"
	StepEnv         StepKind = "ENV"
	StepArg         StepKind = "ARG"
	StepWorkdir     StepKind = "WORKDIR"
	StepUser        StepKind = "USER"
	StepExpose      StepKind = "EXPOSE"
	StepCmd         StepKind = "CMD"
	StepEntrypoint  StepKind = "ENTRYPOINT"
	StepLabel       StepKind = "LABEL"
	StepHealthcheck StepKind = "HEALTHCHECK"
	StepShell       StepKind = "SHELL"
	StepStopSignal  StepKind = "STOPSIGNAL"
)

// defaultShell is what shell-form RUN, CMD and ENTRYPOINT run under until a
// SHELL instruction says otherwise.
var defaultShell = []string{"/bin/sh", "-c"}

// Plan is a parsed Dockerfile: its stages in file order and the image
// configuration the last stage sets.
type Plan struct {
	// Stages in file order; the last one is the image that is built.
	Stages []Stage
	// Config is what the Dockerfile sets in the image config of the last
	// stage, through the stages it builds on. The executor lays it over the
	// root base image's config with [Plan.ImageConfig].
	Config v1.ImageConfig
	// Healthcheck is the last stage's HEALTHCHECK, or nil. (The OCI image
	// config has no field for it; Docker's extension does.)
	Healthcheck *Healthcheck
	// Warnings are the parser's warnings (such as empty continuation
	// lines), for the build log.
	Warnings []string
	// UnusedBuildArgs are build arguments no ARG instruction declared.
	// Docker warns about them; they have no effect.
	UnusedBuildArgs []string
}

// Stage is one FROM and the steps after it.
type Stage struct {
	// Name is the stage's lowercased AS name, or "".
	Name string
	// Line is the line of the FROM instruction.
	Line int
	// From is the expanded FROM argument: an image reference, or the name
	// or index of a previous stage when BaseStage >= 0.
	From string
	// BaseStage is the index of the previous stage this one builds on, or
	// -1 when From is an image reference.
	BaseStage int
	// Platform is FROM's --platform value, expanded, or "".
	Platform string
	// Needed is whether the last stage depends on this one (through FROM
	// or COPY --from); the executor may skip stages that are not needed.
	Needed bool
	// Steps in order.
	Steps []Step
	// Config is the image config this stage ends with, not counting the
	// base image's own config.
	Config v1.ImageConfig
	// Healthcheck is the HEALTHCHECK in effect at the end of the stage.
	Healthcheck *Healthcheck

	shellEnd []string // the SHELL in effect at the end of the stage
	argsEnd  vars     // the ARGs in scope at the end of the stage
	baseEnv  []string // the base image's ENV (ParseOptions.BaseConfig), under the stage's
}

// Step is one instruction of a stage, resolved: variables expanded, paths
// made absolute, and the state it runs in recorded.
type Step struct {
	// Index is the step's position over all stages in file order; it is
	// also its index in the slice [Plan.CacheKeys] returns.
	Index int
	// Stage is the index of the stage the step belongs to.
	Stage int
	// Kind is the instruction.
	Kind StepKind
	// Line is the line the instruction starts on.
	Line int
	// Original is the instruction as written, for build logs.
	Original string
	// Args depend on Kind:
	//   RUN, CMD, ENTRYPOINT: the argv, the shell prepended for shell form
	//   COPY, ADD: the sources (paths in the context, or in the --from stage
	//     or image; wildcards are kept)
	//   ENV, LABEL: "KEY=value" pairs; ARG: "KEY=value", or "KEY" when unset
	//   WORKDIR: the directory (relative to the base image's WorkingDir
	//     when no absolute WORKDIR came before); USER: the user;
	//   STOPSIGNAL: the signal
	//   EXPOSE: ports as "80/tcp"; SHELL: the new shell argv
	//   HEALTHCHECK: nil (see Healthcheck)
	Args []string
	// Dest is the destination of COPY and ADD, resolved against the
	// WORKDIR in effect; it ends in "/" when the instruction said it is a
	// directory. It is relative only when no WORKDIR set so far was
	// absolute: then it is relative to the base image's WorkingDir.
	Dest string
	// FromStage is the stage index COPY --from names, or -1.
	FromStage int
	// FromImage is the image COPY --from names when it is not a stage.
	FromImage string
	// Chown and Chmod are COPY and ADD's flags, expanded, or "".
	Chown, Chmod string
	// Extract is set for ADD: local tar archives among the sources are
	// unpacked into Dest, as Docker does (ADD --unpack=false clears it).
	Extract bool
	// Healthcheck is HEALTHCHECK's value (Test ["NONE"] disables).
	Healthcheck *Healthcheck
	// Env is the environment a RUN sees from the Dockerfile: the stage's
	// ENV and its declared ARGs, "KEY=value". The executor puts the base
	// image's Env before it.
	Env []string
	// WorkingDir and User are in effect for this step ("" means the base
	// image's; a relative WorkingDir is relative to the base image's).
	WorkingDir, User string
}

// Healthcheck is HEALTHCHECK's configuration, as in Docker's image config.
type Healthcheck struct {
	// Test is ["NONE"], ["CMD", argv...] or ["CMD-SHELL", command].
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Port returns the one TCP port the image EXPOSEs, if it exposes exactly one
// port and it is TCP and not a range; the app's PORT comes from it.
func (p *Plan) Port() (int, bool) {
	if len(p.Config.ExposedPorts) != 1 {
		return 0, false
	}
	for k := range p.Config.ExposedPorts {
		num, proto, _ := strings.Cut(k, "/")
		if proto != "tcp" {
			return 0, false
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// Steps returns every step of every stage in file order (Step.Index order).
func (p *Plan) Steps() []Step {
	var all []Step
	for _, s := range p.Stages {
		all = append(all, s.Steps...)
	}
	return all
}

// ImageConfig returns the final image's config: base, the config of the
// image the last stage's chain of stages starts FROM, with the Dockerfile's
// config instructions applied over it in order as Docker does (ENTRYPOINT
// clears a CMD inherited from the base).
func (p *Plan) ImageConfig(base v1.ImageConfig) v1.ImageConfig {
	cfg := cloneConfig(base)
	var chain []int
	for i := len(p.Stages) - 1; i >= 0; i = p.Stages[i].BaseStage {
		chain = append(chain, i)
	}
	baseWD := base.WorkingDir
	if baseWD == "" {
		baseWD = "/"
	}
	for _, i := range slices.Backward(chain) {
		st := stageState{baseWD: baseWD}
		for _, step := range p.Stages[i].Steps {
			st.apply(&cfg, step)
		}
	}
	return cfg
}

// ParseDockerfile reads a Dockerfile and resolves it into a Plan with the
// given build arguments (docker build --build-arg). Unsupported
// instructions and flags are refused with their line number. Variables a
// base image's ENV sets expand to "" here: the builder, which has the
// images, uses ParseDockerfileWith.
func ParseDockerfile(r io.Reader, buildArgs map[string]string) (*Plan, error) {
	return ParseDockerfileWith(r, ParseOptions{BuildArgs: buildArgs})
}

// ParseOptions are what a Dockerfile is resolved with.
type ParseOptions struct {
	// BuildArgs are the build arguments (docker build --build-arg).
	BuildArgs map[string]string
	// BaseConfig, when set, gives the config of a stage's base image
	// (ref as FROM names it, and the stage's platform), so that the
	// image's ENV is in scope as in Docker: `ENV PATH=/app/bin:$PATH`
	// keeps the image's PATH.
	BaseConfig func(ref, platform string) (v1.ImageConfig, error)
}

// ParseDockerfileWith is ParseDockerfile with the base images' configs.
func ParseDockerfileWith(r io.Reader, opts ParseOptions) (*Plan, error) {
	buildArgs := opts.BuildArgs
	res, err := parser.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile: %w", lineError(err))
	}
	if err := refuseUnsupported(res.AST); err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile: %w", lineError(err))
	}
	if len(stages) == 0 {
		return nil, errors.New("parse Dockerfile: no FROM instruction; a Dockerfile starts with FROM <image> (after optional ARGs)")
	}
	r2 := &resolver{
		escape:     res.EscapeToken,
		buildArgs:  buildArgs,
		baseConfig: opts.BaseConfig,
		usedArgs:   map[string]bool{},
		meta:       vars{},
		platform:   platformArgs(),
	}
	for k, v := range r2.platform {
		r2.meta[k] = v
	}
	for i := range metaArgs {
		if err := r2.declareArgs(&metaArgs[i], r2.meta, r2.meta, r2.meta); err != nil {
			return nil, fmt.Errorf("line %d: %w", line(metaArgs[i].Location()), err)
		}
	}
	plan := &Plan{}
	for _, w := range res.Warnings {
		plan.Warnings = append(plan.Warnings, w.Short)
	}
	for i := range stages {
		st, err := r2.stage(plan, stages, i)
		if err != nil {
			return nil, err
		}
		plan.Stages = append(plan.Stages, *st)
	}
	last := &plan.Stages[len(plan.Stages)-1]
	plan.Config = cloneConfig(last.Config)
	plan.Healthcheck = last.Healthcheck
	markNeeded(plan)
	for k := range buildArgs {
		if !r2.usedArgs[k] && !proxyArgs[k] {
			plan.UnusedBuildArgs = append(plan.UnusedBuildArgs, k)
		}
	}
	slices.Sort(plan.UnusedBuildArgs)
	return plan, nil
}

// refused lists the instructions skiff's builder does not run, with what to
// do instead.
var refused = map[string]string{
	"volume":  "skiff apps keep no state in anonymous volumes; remove VOLUME and store data in a database or object store",
	"onbuild": "ONBUILD only affects images built FROM this one; remove it",
}

func refuseUnsupported(ast *parser.Node) error {
	for _, n := range ast.Children {
		if why, ok := refused[strings.ToLower(n.Value)]; ok {
			return fmt.Errorf("line %d: %s is not supported by skiff's builder; %s", n.StartLine, strings.ToUpper(n.Value), why)
		}
	}
	return nil
}

// lineError rewrites a buildkit error to start with "line N:".
func lineError(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("line %d: %w", le.Locations[0][0].Start.Line, le.Unwrap())
	}
	return err
}

func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// proxyArgs are Docker's predefined ARGs: passed as build arguments, they
// reach RUN without an ARG instruction.
var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// platformArgs are the automatic platform ARGs for a build on this machine
// for this machine.
func platformArgs() vars {
	p := runtime.GOOS + "/" + runtime.GOARCH
	return vars{
		"TARGETPLATFORM": p, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH, "TARGETVARIANT": "",
		"BUILDPLATFORM": p, "BUILDOS": runtime.GOOS, "BUILDARCH": runtime.GOARCH, "BUILDVARIANT": "",
	}
}

type resolver struct {
	escape     rune
	baseConfig func(ref, platform string) (v1.ImageConfig, error)
	buildArgs  map[string]string
	usedArgs   map[string]bool
	meta       vars // ARGs before the first FROM, with the platform ARGs
	platform   vars
	steps      int
}

// declareArgs evaluates an ARG instruction: the value is the build argument
// if given, else the default, else the global (meta) value, else unset.
// Words are expanded against scope; values land in args.
func (r *resolver) declareArgs(c *instructions.ArgCommand, scope vars, args vars, global vars) error {
	if err := c.Expand(scope.expander(r.escape)); err != nil {
		return err
	}
	for _, kv := range c.Args {
		r.usedArgs[kv.Key] = true
		if v, ok := r.buildArgs[kv.Key]; ok {
			args[kv.Key] = v
		} else if kv.Value != nil {
			args[kv.Key] = *kv.Value
		} else if v, ok := global[kv.Key]; ok {
			args[kv.Key] = v
		} else {
			delete(args, kv.Key)
		}
	}
	return nil
}

// stageState is what the instructions of one stage have set so far.
type stageState struct {
	cmdSet bool
	// baseWD is the root base image's WorkingDir when known ("/" if it
	// sets none); "" at parse time, which leaves relative WORKDIRs relative.
	baseWD string
}

// apply lays a config step over cfg the way Docker's dispatcher does.
func (st *stageState) apply(cfg *v1.ImageConfig, s Step) {
	switch s.Kind {
	case StepEnv:
		for _, kv := range s.Args {
			cfg.Env = setEnv(cfg.Env, kv)
		}
	case StepLabel:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range s.Args {
			k, v, _ := strings.Cut(kv, "=")
			cfg.Labels[k] = v
		}
	case StepWorkdir:
		cfg.WorkingDir = resolvePath(st.baseWD, s.Args[0])
	case StepUser:
		cfg.User = s.Args[0]
	case StepExpose:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range s.Args {
			cfg.ExposedPorts[p] = struct{}{}
		}
	case StepCmd:
		cfg.Cmd = slices.Clone(s.Args)
		st.cmdSet = true
	case StepEntrypoint:
		cfg.Entrypoint = slices.Clone(s.Args)
		if !st.cmdSet {
			cfg.Cmd = nil
		}
	case StepStopSignal:
		cfg.StopSignal = s.Args[0]
	}
}

func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

func cloneConfig(c v1.ImageConfig) v1.ImageConfig {
	out := c
	out.Env = slices.Clone(c.Env)
	out.Cmd = slices.Clone(c.Cmd)
	out.Entrypoint = slices.Clone(c.Entrypoint)
	if c.ExposedPorts != nil {
		out.ExposedPorts = map[string]struct{}{}
		for k := range c.ExposedPorts {
			out.ExposedPorts[k] = struct{}{}
		}
	}
	if c.Volumes != nil {
		out.Volumes = map[string]struct{}{}
		for k := range c.Volumes {
			out.Volumes[k] = struct{}{}
		}
	}
	if c.Labels != nil {
		out.Labels = map[string]string{}
		for k, v := range c.Labels {
			out.Labels[k] = v
		}
	}
	return out
}

// stageIndex finds the stage a FROM or COPY --from names: by name, or by
// index. It refuses a stage that is the current one or comes later.
func stageIndex(stages []instructions.Stage, ref string, current int) (int, bool, error) {
	if idx, ok := instructions.HasStage(stages, ref); ok {
		if idx >= current {
			return 0, false, fmt.Errorf("stage %q is defined at line %d, not before this instruction; skiff's builder needs a stage defined before it is used", ref, line(stages[idx].Location))
		}
		return idx, true, nil
	}
	if n, err := strconv.Atoi(ref); err == nil {
		if n < 0 || n >= current {
			return 0, false, fmt.Errorf("unknown stage %d: there are %d stages before this instruction (numbered from 0)", n, current)
		}
		return n, true, nil
	}
	return 0, false, nil
}

func (r *resolver) stage(plan *Plan, stages []instructions.Stage, i int) (*Stage, error) {
	is := stages[i]
	ln := line(is.Location)
	metaExp := r.meta.expander(r.escape)
	from, err := metaExp(is.BaseName)
	if err != nil {
		return nil, fmt.Errorf("line %d: FROM: %w", ln, err)
	}
	if from == "" {
		return nil, fmt.Errorf("line %d: FROM %s expands to an empty image name; set the ARG it uses", ln, is.BaseName)
	}
	platform, err := metaExp(is.Platform)
	if err != nil {
		return nil, fmt.Errorf("line %d: FROM --platform: %w", ln, err)
	}
	st := &Stage{Name: is.Name, Line: ln, From: from, BaseStage: -1, Platform: platform}
	if strings.EqualFold(from, is.Name) {
		return nil, fmt.Errorf("line %d: stage %q is FROM itself; name the base image or an earlier stage", ln, is.Name)
	}
	idx, isStage, err := stageIndex(stages, from, i)
	if err != nil {
		return nil, fmt.Errorf("line %d: FROM: %w", ln, err)
	}
	if isStage {
		if _, numeric := strconv.Atoi(from); numeric == nil {
			return nil, fmt.Errorf("line %d: FROM %s: a stage is named, not numbered, in FROM; give stage %s an AS name", ln, from, from)
		}
		st.BaseStage = idx
		base := plan.Stages[idx]
		st.Config = cloneConfig(base.Config)
		st.Healthcheck = base.Healthcheck
	}

	// The stage's state: ENV lives in st.Config.Env; ARGs start empty in
	// each stage (Docker's scoping), but a stage built FROM another
	// inherits the ARGs in scope at its end, as BuildKit does.
	args := vars{}
	shell := slices.Clone(defaultShell)
	if st.BaseStage >= 0 {
		base := plan.Stages[st.BaseStage]
		shell = slices.Clone(base.shellEnd)
		for k, v := range base.argsEnd {
			args[k] = v
		}
		st.baseEnv = base.baseEnv
	} else if r.baseConfig != nil && !strings.EqualFold(st.From, "scratch") {
		cfg, err := r.baseConfig(st.From, st.Platform)
		if err != nil {
			return nil, fmt.Errorf("line %d: FROM %s: %w", ln, st.From, err)
		}
		st.baseEnv = cfg.Env
	}
	state := stageState{}
	scope := func() vars {
		v := vars{}
		for k, val := range args {
			v[k] = val
		}
		for _, e := range slices.Concat(st.baseEnv, st.Config.Env) {
			k, val, _ := strings.Cut(e, "=")
			v[k] = val
		}
		return v
	}
	runEnv := func() []string {
		env := slices.Clone(st.Config.Env)
		have := map[string]bool{}
		for _, e := range env {
			k, _, _ := strings.Cut(e, "=")
			have[k] = true
		}
		var extra []string
		for k, v := range args {
			if !have[k] {
				extra = append(extra, k+"="+v)
				have[k] = true
			}
		}
		for k, v := range r.buildArgs {
			if proxyArgs[k] && !have[k] {
				extra = append(extra, k+"="+v)
			}
		}
		slices.Sort(extra)
		return append(env, extra...)
	}

	for _, c := range is.Commands {
		ln := line(c.Location())
		step := Step{Stage: i, Line: ln, Original: original(c), FromStage: -1}
		exp := scope().expander(r.escape)
		fail := func(err error) error {
			return fmt.Errorf("line %d: %s: %w", ln, strings.ToUpper(c.Name()), err)
		}
		switch c := c.(type) {
		case *instructions.MaintainerCommand:
			continue
		case *instructions.ArgCommand:
			if err := r.declareArgs(c, scope(), args, r.meta); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepArg
			for _, kv := range c.Args {
				if v, ok := args[kv.Key]; ok {
					step.Args = append(step.Args, kv.Key+"="+v)
				} else {
					step.Args = append(step.Args, kv.Key)
				}
			}
		case *instructions.EnvCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepEnv
			for _, kv := range c.Env {
				step.Args = append(step.Args, kv.Key+"="+kv.Value)
			}
		case *instructions.LabelCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepLabel
			for _, kv := range c.Labels {
				step.Args = append(step.Args, kv.Key+"="+kv.Value)
			}
		case *instructions.WorkdirCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepWorkdir
			step.Args = []string{resolvePath(st.Config.WorkingDir, c.Path)}
		case *instructions.UserCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			if c.User == "" {
				return nil, fail(errors.New("the user is empty after expansion"))
			}
			step.Kind = StepUser
			step.Args = []string{c.User}
		case *instructions.StopSignalCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepStopSignal
			step.Args = []string{c.Signal}
		case *instructions.ExposeCommand:
			step.Kind = StepExpose
			for _, p := range c.Ports {
				p, err := exp(p)
				if err != nil {
					return nil, fail(err)
				}
				port, err := normalizePort(p)
				if err != nil {
					return nil, fail(err)
				}
				step.Args = append(step.Args, port)
			}
		case *instructions.ShellCommand:
			step.Kind = StepShell
			step.Args = slices.Clone(c.Shell)
			shell = slices.Clone(c.Shell)
		case *instructions.CmdCommand:
			if err := noHeredoc(c.Files); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepCmd
			step.Args = withShell(shell, c.ShellDependantCmdLine)
		case *instructions.EntrypointCommand:
			if err := noHeredoc(c.Files); err != nil {
				return nil, fail(err)
			}
			step.Kind = StepEntrypoint
			step.Args = withShell(shell, c.ShellDependantCmdLine)
		case *instructions.HealthCheckCommand:
			step.Kind = StepHealthcheck
			h := c.Health
			step.Healthcheck = &Healthcheck{
				Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
				StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
			}
			st.Healthcheck = step.Healthcheck
		case *instructions.RunCommand:
			if len(c.FlagsUsed) > 0 {
				slices.Sort(c.FlagsUsed)
				return nil, fmt.Errorf("line %d: RUN --%s is not supported by skiff's builder; remove the flag (RUN runs with the network and no extra mounts)", ln, c.FlagsUsed[0])
			}
			if err := noHeredoc(c.Files); err != nil {
				return nil, fail(err)
			}
			if len(c.CmdLine) == 0 {
				return nil, fail(errors.New("no command to run"))
			}
			step.Kind = StepRun
			step.Args = withShell(shell, c.ShellDependantCmdLine)
		case *instructions.CopyCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			switch {
			case c.Parents:
				return nil, fmt.Errorf("line %d: COPY --parents is not supported by skiff's builder; copy each directory to its destination", ln)
			case len(c.ExcludePatterns) > 0:
				return nil, fmt.Errorf("line %d: COPY --exclude is not supported by skiff's builder; list the files in .dockerignore instead", ln)
			}
			step.Kind = StepCopy
			if c.From != "" {
				from, err := exp(c.From)
				if err != nil {
					return nil, fail(err)
				}
				idx, isStage, err := stageIndex(stages, from, i)
				if err != nil {
					return nil, fail(fmt.Errorf("--from: %w", err))
				}
				if isStage {
					step.FromStage = idx
				} else {
					step.FromImage = from
				}
			}
			if err := r.sources(&step, c.SourcesAndDest, c.Chown, c.Chmod, st.Config.WorkingDir); err != nil {
				return nil, fail(err)
			}
		case *instructions.AddCommand:
			if err := c.Expand(exp); err != nil {
				return nil, fail(err)
			}
			switch {
			case c.Checksum != "" || c.KeepGitDir != nil:
				return nil, fmt.Errorf("line %d: ADD --checksum and --keep-git-dir are for remote sources, which skiff's builder does not fetch; download in a RUN step", ln)
			case len(c.ExcludePatterns) > 0:
				return nil, fmt.Errorf("line %d: ADD --exclude is not supported by skiff's builder; list the files in .dockerignore instead", ln)
			}
			for _, src := range c.SourcePaths {
				if isRemote(src) {
					return nil, fmt.Errorf("line %d: ADD %s: URL and git sources are not supported by skiff's builder; fetch them in a RUN step (curl, git clone) or add the files to the repository", ln, src)
				}
			}
			step.Kind = StepAdd
			step.Extract = c.Unpack == nil || *c.Unpack
			if err := r.sources(&step, c.SourcesAndDest, c.Chown, c.Chmod, st.Config.WorkingDir); err != nil {
				return nil, fail(err)
			}
		default:
			return nil, fmt.Errorf("line %d: %s is not supported by skiff's builder; remove it", ln, strings.ToUpper(c.Name()))
		}
		step.Env = runEnv()
		step.WorkingDir = st.Config.WorkingDir
		step.User = st.Config.User
		step.Index = r.steps
		r.steps++
		state.apply(&st.Config, step)
		st.Steps = append(st.Steps, step)
	}
	st.shellEnd = shell
	st.argsEnd = args
	return st, nil
}

func original(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(c.Name())
}

func (r *resolver) sources(step *Step, sd instructions.SourcesAndDest, chown, chmod, workdir string) error {
	if len(sd.SourceContents) > 0 {
		return errors.New("heredoc sources (<<EOF) are not supported by skiff's builder; put the content in a file in the repository")
	}
	if len(sd.SourcePaths) == 0 {
		return errors.New("no source to copy")
	}
	if chmod != "" {
		if m, err := strconv.ParseUint(chmod, 8, 32); err != nil || m > 0o7777 {
			return fmt.Errorf("--chmod=%s: want an octal mode such as 0644 or 755", chmod)
		}
	}
	if sd.DestPath == "" {
		return errors.New("the destination is empty")
	}
	dest := resolvePath(workdir, sd.DestPath)
	isDir := strings.HasSuffix(sd.DestPath, "/") || sd.DestPath == "." || strings.HasSuffix(sd.DestPath, "/.")
	if isDir && !strings.HasSuffix(dest, "/") {
		dest += "/"
	}
	if len(sd.SourcePaths) > 1 && !strings.HasSuffix(dest, "/") {
		return fmt.Errorf("with %d sources the destination %q must be a directory ending in /", len(sd.SourcePaths), sd.DestPath)
	}
	step.Args = slices.Clone(sd.SourcePaths)
	step.Dest = dest
	step.Chown = chown
	step.Chmod = chmod
	return nil
}

func isRemote(src string) bool {
	return strings.Contains(src, "://") || strings.HasPrefix(src, "git@") ||
		strings.HasPrefix(src, "github.com/") || strings.HasPrefix(src, "gitlab.com/")
}

func noHeredoc(files []instructions.ShellInlineFile) error {
	if len(files) > 0 {
		return errors.New("heredocs (<<EOF) are not supported by skiff's builder; put the script in a file and COPY it")
	}
	return nil
}

func withShell(shell []string, c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell && len(c.CmdLine) > 0 {
		return append(slices.Clone(shell), c.CmdLine...)
	}
	return slices.Clone(c.CmdLine)
}

// resolvePath resolves p against dir. With dir "" (no WORKDIR yet, so the
// base image's, which is not known here) a relative p stays relative.
func resolvePath(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// normalizePort checks an EXPOSE port ("80", "80/tcp", "53/udp",
// "8000-8010/tcp") and returns it with its protocol.
func normalizePort(p string) (string, error) {
	num, proto, found := strings.Cut(p, "/")
	if !found {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", fmt.Errorf("port %q: protocol must be tcp, udp or sctp", p)
	}
	bounds := []string{num}
	if lo, hi, isRange := strings.Cut(num, "-"); isRange {
		bounds = []string{lo, hi}
	}
	prev := 0
	for _, s := range bounds {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 || n < prev {
			return "", fmt.Errorf("port %q: want a number from 1 to 65535, or a range such as 8000-8010", p)
		}
		prev = n
	}
	return num + "/" + proto, nil
}

// markNeeded sets Stage.Needed on the last stage and every stage it reaches
// through FROM and COPY --from.
func markNeeded(p *Plan) {
	var visit func(i int)
	visit = func(i int) {
		if p.Stages[i].Needed {
			return
		}
		p.Stages[i].Needed = true
		if b := p.Stages[i].BaseStage; b >= 0 {
			visit(b)
		}
		for _, s := range p.Stages[i].Steps {
			if s.FromStage >= 0 {
				visit(s.FromStage)
			}
		}
	}
	visit(len(p.Stages) - 1)
}

// Canonical is the text of a step its cache key is computed from: every
// field that changes what the step produces.
func (s *Step) Canonical() string {
	b, _ := json.Marshal(struct {
		Kind             StepKind
		Args             []string
		Dest, FromImage  string
		Chown, Chmod     string
		Extract          bool
		Health           *Healthcheck
		Env              []string
		WorkingDir, User string
	}{s.Kind, s.Args, s.Dest, s.FromImage, s.Chown, s.Chmod, s.Extract, s.Healthcheck, s.Env, s.WorkingDir, s.User})
	return string(b)
}
