package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Go's ForkExec has no hook between fork and exec, and limits set on the agent around a fork would bind the
// agent too (a lowered hard limit cannot be raised back). So every exec starts a shim that makes itself
// the first the OOM killer takes (oom_score_adj 1000) and sets the rlimits on itself, and then execs the
// command in its place: the C one (execshim/shim.c) from a sealed memfd,
// or, where that cannot run, the agent's own binary in shim mode (shim.go).

// rlimitResources maps the protocol's names to resource numbers (RLIMIT_NPROC: 6 on x86 and arm).
var rlimitResources = map[string]int{"cpu": syscall.RLIMIT_CPU, "fsize": syscall.RLIMIT_FSIZE,
	"nofile": syscall.RLIMIT_NOFILE, "nproc": 6, "as": syscall.RLIMIT_AS, "core": syscall.RLIMIT_CORE,
	"stack": syscall.RLIMIT_STACK}

const maxRlimit = 1 << 53

// shimTimeout bounds how long the reader loop waits for the shim to exec: a process of the sandbox could
// SIGSTOP it, and the connection must not hang on that.
const shimTimeout = 10 * time.Second

// selfExe is the agent's binary as it can exec itself: /proc/self/exe works wherever /proc is mounted
// (bwrap --proc, containers), even from a read-only bind mount.
const selfExe = "/proc/self/exe"

// shimExe is the shim that forkExec starts: the C one once setupShim has put it in a memfd, else selfExe.
// Only the reader loop touches it (exec.go), so it needs no lock.
var shimExe = selfExe

func setupShim() {
	if p := sealedExecutable("paddock-exec", nativeShim()); p != "" {
		shimExe = p
	}
}

// shimEnv is the shim's own: one P, so its runtime starts no extra threads to run its idle goroutines.
var shimEnv = []string{"GOMAXPROCS=1"}

type rlimit struct {
	name  string
	value uint64
}

// parseRlimits checks exec's rlimits (known names, integers 0 … 2^53), sorted by name.
func parseRlimits(raw map[string]json.RawMessage) ([]rlimit, error) {
	var out []rlimit
	for name, v := range raw {
		if _, ok := rlimitResources[name]; !ok {
			return nil, invalid("unknown rlimit %q", name)
		}
		// Only plain digits: json would also take "10" (a string), 1e3 or 10.0.
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil || n > maxRlimit {
			return nil, invalid("rlimit %s must be an integer 0..2^53, got %s", name, v)
		}
		out = append(out, rlimit{name, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// shimArgv is [argv0, marker, "0=10:11,7=64:64", path, len(argv), argv…, env…]: each limit as its resource
// number = soft : hard, and the CPU limit's hard one a second past the soft one (as `prlimit --cpu=N:N+1`),
// so that SIGXCPU comes first and the runner can tell a CPU limit from any other SIGKILL. The env rides in
// argv, so the Go shim's runtime starts with none of the caller's (GODEBUG, GOGC …) and the command gets it
// exactly.
func shimArgv(path string, argv, env []string, lims []rlimit) []string {
	spec := make([]string, len(lims))
	for i, l := range lims {
		res, hard := rlimitResources[l.name], l.value
		if res == syscall.RLIMIT_CPU {
			hard++
		}
		spec[i] = strconv.Itoa(res) + "=" + strconv.FormatUint(l.value, 10) + ":" + strconv.FormatUint(hard, 10)
	}
	out := append([]string{"paddock-exec", shimMarker, strings.Join(spec, ","), path, strconv.Itoa(len(argv))}, argv...)
	return append(out, env...)
}

// forkExec starts path through the shim, whose status it reads before returning. Also without limits:
// the shim raises the command's oom_score_adj, which must happen before it can start anything.
func forkExec(rp *reaper, path string, argv []string, attr *syscall.ProcAttr, lims []rlimit) (int, <-chan exitInfo, error) {
	status, w, err := pipeRead()
	if err != nil {
		return 0, nil, err
	}
	defer status.Close()
	shim := *attr
	shim.Files = append(append([]uintptr{}, attr.Files...), uintptr(w)) // the shim's fd 3 (shimStatus)
	shim.Env = shimEnv
	shimArgs := shimArgv(path, argv, attr.Env, lims)
	pid, exit, err := rp.start(func() (int, error) { return syscall.ForkExec(shimExe, shimArgs, &shim) })
	if shimExe != selfExe && execRefused(err) {
		// The C shim's memfd cannot be exec'd here after all (a kernel or sandbox that refuses it):
		// the Go shim from now on. The command's own exec errors come through the status pipe instead,
		// and a fork that fails (EAGAIN at the process limit) is no reason to give the C shim up.
		shimExe = selfExe
		pid, exit, err = rp.start(func() (int, error) { return syscall.ForkExec(shimExe, shimArgs, &shim) })
	}
	syscall.Close(w)
	if err == nil {
		err = awaitShim(status, pid, lims)
	}
	if err != nil {
		return 0, nil, err
	}
	return pid, exit, nil
}

func execRefused(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.EPERM)
}

// awaitShim reads the shim's status pipe until it closes: at its successful execve (close-on-exec), or
// after a 4-byte report of what failed. Without a report the command runs.
func awaitShim(r *os.File, pid int, lims []rlimit) error {
	r.SetReadDeadline(time.Now().Add(shimTimeout))
	msg, err := io.ReadAll(io.LimitReader(r, 16))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		syscall.Kill(pid, syscall.SIGKILL)
		return &opError{"exec_failed", "the exec shim did not exec within " + shimTimeout.String()}
	}
	if err != nil {
		return err
	}
	if len(msg) == 0 {
		return nil
	}
	if len(msg) != 4 {
		return &opError{"exec_failed", "the exec shim failed: " + strconv.Quote(string(msg))}
	}
	errno := syscall.Errno(uint16(msg[2])<<8 | uint16(msg[3]))
	switch {
	case msg[0] == 'r' && int(msg[1]) < len(lims):
		l := lims[msg[1]]
		return invalid("rlimit %s=%d: %v", l.name, l.value, errno)
	case msg[0] == 'x' && errno == syscall.ENOENT:
		return &opError{"not_found", errno.Error()}
	case msg[0] == 'x':
		return &opError{"exec_failed", errno.Error()}
	}
	return &opError{"exec_failed", "the exec shim refused its arguments"}
}
