package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Recipes are the Dockerfiles skiff writes for apps without one, one per
// Kind, on configurable base images. Every recipe sets PORT and EXPOSEs it,
// and runs the Procfile's web process when there is one.
type Recipes struct {
	// StaticImage serves static sites with busybox httpd; it must have
	// /bin/sh and httpd.
	StaticImage string `json:"staticImage"`
	// PythonImage runs Python apps; it must have pip.
	PythonImage string `json:"pythonImage"`
	// NodeImage runs Node.js apps; it must have npm.
	NodeImage string `json:"nodeImage"`
	// GoBuildImage compiles Go apps; GoRunImage runs the static binary and
	// must have /bin/sh when the Procfile's web is a shell command.
	GoBuildImage string `json:"goBuildImage"`
	GoRunImage   string `json:"goRunImage"`
	// ProcfileImage runs a Procfile-only app's web command with /bin/sh.
	ProcfileImage string `json:"procfileImage"`
	// Port is the PORT the app is told to listen on and that is EXPOSEd.
	Port int `json:"port"`
}

// DefaultRecipes returns the recipes with skiff's default base images.
func DefaultRecipes() Recipes {
	return Recipes{
		StaticImage:   "busybox:1.37",
		PythonImage:   "python:3",
		NodeImage:     "node:lts-slim",
		GoBuildImage:  "golang:1",
		GoRunImage:    "alpine:3",
		ProcfileImage: "debian:stable-slim",
		Port:          8080,
	}
}

// Validate checks that every image is set and the port is usable.
func (r Recipes) Validate() error {
	for name, v := range map[string]string{
		"staticImage": r.StaticImage, "pythonImage": r.PythonImage, "nodeImage": r.NodeImage,
		"goBuildImage": r.GoBuildImage, "goRunImage": r.GoRunImage, "procfileImage": r.ProcfileImage,
	} {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t\n") {
			return fmt.Errorf("recipes: %s %q: want an image reference such as busybox:1.37", name, v)
		}
	}
	if r.Port < 1 || r.Port > 65535 {
		return fmt.Errorf("recipes: port %d: want 1 to 65535", r.Port)
	}
	return nil
}

// Plan writes the Dockerfile for kind and parses it with ParseDockerfile,
// so recipes and Dockerfiles run through one engine.
func (r Recipes) Plan(kind Kind, contextDir string) (*Plan, error) {
	text, err := r.Dockerfile(kind, contextDir)
	if err != nil {
		return nil, err
	}
	p, err := ParseDockerfile(strings.NewReader(text), nil)
	if err != nil {
		return nil, fmt.Errorf("%s recipe: %w", kind, err)
	}
	return p, nil
}

// Dockerfile returns the Dockerfile text that builds a kind of app from the
// files in contextDir. The Procfile's web process, when present, becomes
// CMD; Python and Procfile-only apps must have one.
func (r Recipes) Dockerfile(kind Kind, contextDir string) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	procs, err := readProcfile(contextDir)
	if err != nil {
		return "", err
	}
	web, webErr := RequireWeb(procs)
	cmd := func(def []string) (string, error) {
		if webErr == nil {
			def = []string{"/bin/sh", "-c", web}
		}
		if def == nil {
			return "", fmt.Errorf("%s app: %w", kind, webErr)
		}
		b, _ := json.Marshal(def)
		return "CMD " + string(b), nil
	}
	has := func(f string) bool {
		ok, _ := isFileIn(contextDir, f)
		return ok
	}
	port := strconv.Itoa(r.Port)
	var b strings.Builder
	w := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	var c string
	switch kind {
	case KindStatic:
		if c, err = cmd([]string{"/bin/sh", "-c", `exec httpd -f -v -p "$PORT" -h /www`}); err != nil {
			return "", err
		}
		w("FROM " + r.StaticImage)
		if has("index.html") {
			copies, err := webRootCopies(contextDir)
			if err != nil {
				return "", err
			}
			w(copies...)
		} else {
			w("COPY public/ /www/")
		}
	case KindPython:
		if c, err = cmd(nil); err != nil {
			return "", err
		}
		w("FROM "+r.PythonImage, "WORKDIR /app", "ENV PYTHONUNBUFFERED=1")
		switch {
		case has("requirements.txt"):
			w("COPY requirements.txt ./", "RUN pip install --no-cache-dir -r requirements.txt", "COPY . .")
		case has("Pipfile"):
			deploy := ""
			if has("Pipfile.lock") {
				deploy = " --deploy"
			}
			w("COPY Pipfile Pipfile.lock* ./", "RUN pip install --no-cache-dir pipenv && pipenv install --system"+deploy, "COPY . .")
		default:
			w("COPY . .", "RUN pip install --no-cache-dir .")
		}
	case KindNode:
		if c, err = cmd([]string{"npm", "start"}); err != nil {
			return "", err
		}
		install := "npm install --omit=dev"
		if has("package-lock.json") || has("npm-shrinkwrap.json") {
			install = "npm ci --omit=dev"
		}
		w("FROM "+r.NodeImage, "WORKDIR /app", "ENV NODE_ENV=production",
			"COPY package*.json npm-shrinkwrap.json* ./", "RUN "+install, "COPY . .")
	case KindGo:
		if c, err = cmd([]string{"/app/bin/app"}); err != nil {
			return "", err
		}
		w("FROM "+r.GoBuildImage+" AS build", "WORKDIR /src",
			"COPY go.mod go.sum* ./", "RUN go mod download", "COPY . .",
			"RUN CGO_ENABLED=0 go build -trimpath -o /app/bin/app .",
			"FROM "+r.GoRunImage, "WORKDIR /app", "COPY . .", "COPY --from=build /app/bin/app /app/bin/app",
			"ENV PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	case KindProcfile:
		if webErr != nil {
			if procs == nil {
				return "", errors.New("procfile app: there is no Procfile; add one with a web process")
			}
			return "", webErr
		}
		if c, err = cmd(nil); err != nil {
			return "", err
		}
		w("FROM "+r.ProcfileImage, "WORKDIR /app", "COPY . .")
	default:
		return "", fmt.Errorf("no recipe for app kind %q; want one of go, python, node, static, procfile", kind)
	}
	w("ENV PORT="+port, "EXPOSE "+port, c)
	return b.String(), nil
}

// notServed are the root entries of a static site that are the repository's
// or skiff's, not the site's: they are not copied into the web root, where
// httpd would serve them.
var notServed = map[string]bool{
	"Procfile": true, "Dockerfile": true, ".dockerignore": true,
	".git": true, ".gitignore": true, ".gitattributes": true, ".gitmodules": true,
	".github": true, ".gitlab-ci.yml": true, ".hg": true, ".svn": true,
	".env": true, ".skiff": true,
}

// webRootCopies are the COPY lines of a static site served from the
// repository root: the files in one instruction, each directory in its own
// (COPY of a directory copies its contents), leaving out notServed.
func webRootCopies(contextDir string) ([]string, error) {
	ents, err := os.ReadDir(contextDir)
	if err != nil {
		return nil, fmt.Errorf("static app: %w", err)
	}
	var files []string
	var lines []string
	for _, e := range ents {
		name := e.Name()
		if notServed[name] {
			continue
		}
		// COPY has no escape for wildcard characters: "?" matches each of
		// them, and the name itself.
		name = strings.NewReplacer("*", "?", "[", "?", "]", "?").Replace(name)
		if e.IsDir() {
			b, _ := json.Marshal([]string{name, "/www/" + name + "/"})
			lines = append(lines, "COPY "+string(b))
			continue
		}
		files = append(files, name)
	}
	if len(files) > 0 {
		b, _ := json.Marshal(append(files, "/www/"))
		lines = append([]string{"COPY " + string(b)}, lines...)
	}
	return lines, nil
}
