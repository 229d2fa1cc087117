package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/llmq/llmq/config"
)

func TestRun(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		args, vars []string
		serveErr   error
		code       int
		served     bool
		stdout     []string // substrings
		stderr     []string
	}{
		{name: "served", served: true, code: ExitOK},
		{name: "help", args: []string{"--help"}, code: ExitOK,
			stdout: []string{"Usage: test\n\nDoes a test thing.\nConfigured by these environment variables:", "REDIS_URL", "DASHBOARD_PASSWORD", "LOG_LEVEL"}},
		{name: "unknown flag", args: []string{"--nope"}, code: ExitConfig, stderr: []string{"flag provided but not defined: -nope"}},
		{name: "bad variable", vars: []string{"LOG_LEVEL", "loud"}, code: ExitConfig, stderr: []string{"test: ", "LOG_LEVEL"}},
		{name: "serve fails", serveErr: boom, served: true, code: ExitFailed, stderr: []string{`msg="test stopped" error=boom`}},
		{name: "serve finds the configuration bad", serveErr: ConfigError(boom), served: true, code: ExitConfig, stderr: []string{"test: boom\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DASHBOARD_PASSWORD", "secret-password")
			for i := 0; i+1 < len(tc.vars); i += 2 {
				t.Setenv(tc.vars[i], tc.vars[i+1])
			}
			served := false
			c := Command[config.DashboardEnv]{Name: "test", About: "Does a test thing.",
				Log: func(e config.DashboardEnv) config.Log { return e.Log },
				Serve: func(ctx context.Context, env config.DashboardEnv, log *slog.Logger, stdout io.Writer) error {
					served = env.Dashboard.Password == "secret-password" && log != nil
					return tc.serveErr
				}}
			var stdout, stderr strings.Builder
			code := c.Run(t.Context(), tc.args, &stdout, &stderr)
			if code != tc.code || served != tc.served {
				t.Errorf("exit %d, served %t; want %d, %t\nstderr: %s", code, served, tc.code, tc.served, stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

func TestConfigError(t *testing.T) {
	base := errors.New("DASHBOARD_ADDR: in use")
	err := ConfigError(base)
	if !errors.Is(err, ErrConfig) || !errors.Is(err, base) || err.Error() != base.Error() {
		t.Errorf("ConfigError(%v) = %v: want it to match ErrConfig and the error, with its message", base, err)
	}
	if errors.Is(base, ErrConfig) {
		t.Error("a plain error matches ErrConfig")
	}
}

// TestMainExits runs Main and MainError in a child process, this test
// binary run again with mainEnv naming the case, and checks what it
// prints and its exit status. (--version is checked on the built commands
// by package version's tests.)
func TestMainExits(t *testing.T) {
	const mainEnv = "LLMQ_SERVICE_TEST_MAIN"
	switch os.Getenv(mainEnv) {
	case "status":
		Main("test", func(ctx context.Context) int { return ExitConfig })
	case "error":
		MainError("test", func(ctx context.Context) error { return errors.New("boom") })
	case "nil":
		MainError("test", func(ctx context.Context) error { return ctx.Err() })
	}
	for _, tc := range []struct {
		name   string
		code   int
		stderr string
	}{
		{name: "status", code: ExitConfig},
		{name: "error", code: ExitFailed, stderr: "test: boom\n"},
		{name: "nil", code: ExitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMainExits$")
			cmd.Env = append(os.Environ(), mainEnv+"="+tc.name)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				t.Fatal(err)
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.code || stderr.String() != tc.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}
