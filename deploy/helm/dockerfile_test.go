package helm

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile splits the Dockerfile into instructions and returns
// them with the comment lines that come before the first instruction.
func parseDockerfile(t *testing.T) (header []string, ins []instruction) {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var cur strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			if len(ins) == 0 && strings.HasPrefix(trimmed, "#") {
				header = append(header, trimmed)
			}
			continue
		}
		if strings.HasPrefix(trimmed, "#") { // a comment inside a continued instruction
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return header, ins
}

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// TestDockerfile checks what can be checked of the image without a
// container engine: no parser directive that makes BuildKit pull a
// frontend image, a build stage on the build platform that cross-compiles
// for TARGETARCH with Go cache mounts, a distroless non-root final stage
// with OCI labels, and the version stamped through ldflags into variables
// that exist. It then runs the Dockerfile's own go build command for
// another architecture and for this one, and asks the result its version.
func TestDockerfile(t *testing.T) {
	header, ins := parseDockerfile(t)
	for _, h := range header {
		if regexp.MustCompile(`^#\s*(syntax|escape|check)\s*=`).MatchString(strings.ToLower(h)) {
			t.Errorf("Dockerfile has the parser directive %q (syntax= makes BuildKit pull a frontend image)", h)
		}
	}
	st := stages(ins)
	if len(st) != 2 {
		t.Fatalf("%d stages, want 2 (build, final)", len(st))
	}
	build, final := st[0], st[1]
	if !strings.HasPrefix(build[0].args, "--platform=$BUILDPLATFORM ") || !strings.HasSuffix(build[0].args, " AS build") {
		t.Errorf("build stage is FROM %s, want --platform=$BUILDPLATFORM ... AS build", build[0].args)
	}
	args := map[string]bool{}
	var goBuild string
	for _, in := range build {
		switch in.cmd {
		case "ARG":
			name, _, _ := strings.Cut(in.args, "=")
			args[name] = true
		case "RUN":
			if strings.Contains(in.args, "go build") {
				goBuild = in.args
			}
		}
	}
	for _, a := range []string{"TARGETARCH", "TARGETOS", "VERSION", "REVISION", "CREATED"} {
		if !args[a] {
			t.Errorf("build stage does not declare ARG %s", a)
		}
	}
	for _, want := range []string{
		"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build",
		"CGO_ENABLED=0", "GOARCH=${TARGETARCH}", "GOOS=${TARGETOS}", "-trimpath",
		"./cmd/worker", "./cmd/dashboard", "./cmd/enqueue", "-o /out/",
	} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build step lacks %q: %s", want, goBuild)
		}
	}
	stamped := regexp.MustCompile(`-X github\.com/llmq/llmq/internal/version\.(\w+)=\$\{(\w+)\}`).FindAllStringSubmatch(goBuild, -1)
	vars := versionVars(t)
	got := map[string]string{}
	for _, m := range stamped {
		got[m[2]] = m[1]
		if !slices.Contains(vars, m[1]) {
			t.Errorf("ldflags set internal/version.%s, which is not a string variable there (%v)", m[1], vars)
		}
	}
	if got["VERSION"] == "" || got["REVISION"] == "" || got["CREATED"] == "" {
		t.Errorf("ldflags stamp %v, want VERSION, REVISION and CREATED", got)
	}

	if !strings.HasPrefix(final[0].args, "${BASE_IMAGE}") {
		t.Errorf("final stage is FROM %s, want ${BASE_IMAGE}", final[0].args)
	}
	base := ""
	labels := ""
	user := ""
	for _, in := range ins[:len(ins)-len(final)-len(build)] {
		if in.cmd == "ARG" && strings.HasPrefix(in.args, "BASE_IMAGE=") {
			base = strings.TrimPrefix(in.args, "BASE_IMAGE=")
		}
	}
	for _, in := range final {
		switch in.cmd {
		case "LABEL":
			labels += in.args + " "
		case "USER":
			user = in.args
		}
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static-debian\d+:nonroot(@sha256:[0-9a-f]{64})?$`).MatchString(base) {
		t.Errorf("BASE_IMAGE = %q, want a distroless static :nonroot image", base)
	}
	if user != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532 (numeric, so that runAsNonRoot can check it)", user)
	}
	for _, l := range []string{"title", "description", "source", `version="${VERSION}"`, `revision="${REVISION}"`, `created="${CREATED}"`} {
		if !strings.Contains(labels, "org.opencontainers.image."+l) {
			t.Errorf("no OCI label org.opencontainers.image.%s in %s", l, labels)
		}
	}

	// Run the Dockerfile's go build as the build stage would, for arm64
	// (cross) and for this machine.
	cmdline := regexp.MustCompile(`--mount=\S+\s*`).ReplaceAllString(goBuild, "")
	for _, arch := range []string{"arm64", goEnv(t, "GOARCH")} {
		out := t.TempDir()
		values := map[string]string{"TARGETOS": "linux", "TARGETARCH": arch, "VERSION": "v0.9.0-test", "REVISION": "cafe0123", "CREATED": "2026-12-03T07:00:00Z"}
		line := regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(cmdline, func(s string) string { return values[s[2:len(s)-1]] })
		line = strings.Replace(line, "-o /out/", "-o "+out+"/", 1)
		ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir = "../.."
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, b)
		}
		for _, name := range []string{"worker", "dashboard", "enqueue"} {
			path := filepath.Join(out, name)
			if arch != goEnv(t, "GOARCH") {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("GOARCH=%s: %v", arch, err)
				}
				continue
			}
			v, err := exec.CommandContext(t.Context(), path, "--version").Output()
			if want := name + " v0.9.0-test (revision cafe0123, 2026-12-03T07:00:00Z) "; err != nil || !strings.HasPrefix(string(v), want) {
				t.Errorf("%s --version = %q, %v; want %q...", name, v, err, want)
			}
		}
	}

	m := render(t)
	for _, d := range m.deployments {
		c := container(t, d)
		if u := d.Spec.Template.Spec.SecurityContext.RunAsUser; u == nil || *u != 65532 {
			t.Errorf("%s runs as %s, the image's user is 65532", d.Name, show(u))
		}
		if !strings.HasPrefix(c.Command[0], "/usr/local/bin/") || bin[strings.TrimPrefix(c.Command[0], "/usr/local/bin/")] == "" {
			t.Errorf("%s runs %q, not a binary the Dockerfile builds", d.Name, c.Command)
		}
	}
}

// versionVars returns the package-level string variables of
// internal/version, the ones -X can set.
func versionVars(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../internal/version/version.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" && len(vs.Values) == 0 {
				for _, n := range vs.Names {
					names = append(names, n.Name)
				}
			}
		}
	}
	return names
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
