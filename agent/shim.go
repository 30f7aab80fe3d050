package main

import (
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// shimMarker as argv[1] starts the binary as the exec shim instead of the agent.
const shimMarker = "--paddock-exec-shim"

// shimStatus is the fd on which the shim reports a failure to the agent (close-on-exec, so a successful
// execve closes it with nothing written).
const shimStatus = 3

// runShim sets the limits on itself and execs the command in its own place (same pid, process group,
// terminal and fds 0-2). It holds nothing of the agent: the channel fds were close-on-exec.
//
// Everything execve needs is built before the first limit, and from there on only raw syscalls run: under a
// low `as` or `nproc` the Go runtime could no longer map memory or start a thread. (Limits are per process,
// so the thread this runs on does not matter.)
func runShim(args []string) {
	syscall.RawSyscall(syscall.SYS_FCNTL, shimStatus, syscall.F_SETFD, syscall.FD_CLOEXEC)
	var msg [4]byte
	fail := func(kind byte, i int, e syscall.Errno) {
		msg[0], msg[1], msg[2], msg[3] = kind, byte(i), byte(e>>8), byte(e)
		syscall.RawSyscall(syscall.SYS_WRITE, shimStatus, uintptr(unsafe.Pointer(&msg[0])), 4)
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
	res, lims, path, argv, env, ok := parseShimArgs(args)
	if !ok {
		fail('a', 0, 0)
	}
	pathp, err1 := syscall.BytePtrFromString(path)
	argvp, err2 := syscall.SlicePtrFromStrings(argv)
	envp, err3 := syscall.SlicePtrFromStrings(env)
	if err1 != nil || err2 != nil || err3 != nil {
		fail('a', 0, 0)
	}
	oomFirst()
	for i := range lims {
		_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(res[i]), uintptr(unsafe.Pointer(&lims[i])), 0, 0, 0)
		if e != 0 {
			fail('r', i, e)
		}
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	fail('x', 0, e)
}

const atFdcwd = ^uintptr(99) // -100

var oomPath, oomValue = []byte("/proc/self/oom_score_adj\x00"), []byte("1000")

// oomFirst raises the shim's oom_score_adj to 1000 (best effort, before the limits), as shim.c's oom_first:
// an OOM kill then takes the command, never the agent.
func oomFirst() {
	open := func() (uintptr, syscall.Errno) {
		fd, _, e := syscall.RawSyscall(syscall.SYS_OPENAT, atFdcwd, uintptr(unsafe.Pointer(&oomPath[0])),
			syscall.O_WRONLY|syscall.O_CLOEXEC)
		return fd, e
	}
	fd, e := open()
	if e == syscall.EACCES {
		if _, _, e2 := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 1, 0); e2 == 0 {
			fd, e = open()
			syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
		}
	}
	if e != 0 {
		return
	}
	syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&oomValue[0])), uintptr(len(oomValue)))
	syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
}

// rlimit64 is prlimit64's struct (soft, hard).
type rlimit64 struct{ cur, max uint64 }

// parseShimArgs reads what shimArgv wrote (the agent checked it all; this only guards a hand-made call).
func parseShimArgs(args []string) (res []int, lims []rlimit64, path string, argv, env []string, ok bool) {
	if len(args) < 3 {
		return
	}
	if args[0] != "" {
		for _, kv := range strings.Split(args[0], ",") {
			r, v, _ := strings.Cut(kv, "=")
			soft, hard, _ := strings.Cut(v, ":")
			rn, err1 := strconv.Atoi(r)
			sn, err2 := strconv.ParseUint(soft, 10, 64)
			hn, err3 := strconv.ParseUint(hard, 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || rn < 0 || sn > maxRlimit+1 || hn > maxRlimit+1 {
				return
			}
			res = append(res, rn)
			lims = append(lims, rlimit64{sn, hn})
		}
	}
	n, err := strconv.Atoi(args[2])
	if err != nil || n < 1 || n > len(args)-3 {
		return
	}
	return res, lims, args[1], args[3 : 3+n], args[3+n:], true
}
