package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// What an exec asks for (its OPEN payload and CONTROL messages), checked before anything starts.
type execArgs struct {
	Argv  []string          `json:"argv"`
	Env   map[string]string `json:"env"`
	Cwd   string            `json:"cwd"`
	Stdin bool              `json:"stdin"`
	Pty   *winsize          `json:"pty"`
	// Raw numbers, checked by parseRlimits (a json.Number would also take strings).
	Rlimits map[string]json.RawMessage `json:"rlimits"`
	// Raw too, checked by parseWall; killOnExit: "", "group" or "sandbox" (exitkill.go).
	WallMs     json.RawMessage `json:"wall_ms"`
	KillOnExit string          `json:"kill_on_exit"`
}

type winsize struct {
	Rows int `json:"rows"`
	Cols int `json:"cols"`
}

type controlMsg struct {
	Signal *string  `json:"signal"`
	Resize *winsize `json:"resize"`
}

var controlSignals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT, "WINCH": syscall.SIGWINCH,
}

func (a *execArgs) check() error {
	if len(a.Argv) == 0 || a.Argv[0] == "" {
		return invalid("argv is empty")
	}
	for _, s := range a.Argv {
		if strings.IndexByte(s, 0) >= 0 {
			return invalid("NUL in argv")
		}
	}
	for k, v := range a.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return invalid("bad env name %q", k)
		}
	}
	if a.KillOnExit != "" && a.KillOnExit != "group" && a.KillOnExit != "sandbox" {
		return invalid("kill_on_exit must be \"group\" or \"sandbox\"")
	}
	if a.Pty != nil && !a.Pty.ok() {
		return invalid("pty rows and cols must be 1..65535")
	}
	if err := checkPath(a.Cwd); err != nil {
		return err
	}
	fi, err := os.Stat(a.Cwd)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &opError{"not_dir", "cwd is not a directory"}
	}
	return nil
}

func (w *winsize) ok() bool { return w.Rows >= 1 && w.Rows <= 65535 && w.Cols >= 1 && w.Cols <= 65535 }

// lookPath finds argv[0] the way execvp would, but in the exec's own PATH (relative entries: from cwd).
func lookPath(name string, env map[string]string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(env["PATH"]) {
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && syscall.Access(p, 1) == nil {
			return p, nil
		}
	}
	return "", &opError{"not_found", name + ": not found in PATH"}
}

var signalNames = [...]string{1: "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
	"SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
	"SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
	"SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"}

func signalName(s syscall.Signal) string {
	if int(s) > 0 && int(s) < len(signalNames) {
		return signalNames[s]
	}
	return "SIG" + strings.TrimPrefix(s.String(), "signal ")
}
