package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// parseArgs reads the agent's own arguments: --run-as=UID (runas.go), --limits=nofile=N,fsize=N,core=N and,
// as a VM's init, --vm-tmpfs-mb=N (vminit.go), --vm-net=ADDR/PREFIX,GATEWAY and --vm-dns=IP,... (vmnet.go).
func parseArgs(args []string) error {
	for _, a := range args {
		name, v, _ := strings.Cut(a, "=")
		var err error
		switch name {
		case "--run-as":
			err = setRunAs(v)
		case "--limits":
			err = limitSelf(v)
		case "--vm-tmpfs-mb":
			vmTmpfsMB, err = strconv.Atoi(v)
			if err == nil && (vmTmpfsMB < 1 || vmTmpfsMB > 1<<20) {
				err = fmt.Errorf("--vm-tmpfs-mb: %d is out of range", vmTmpfsMB)
			}
		case "--vm-net":
			vmNet, err = parseVMNet(v)
		case "--vm-dns":
			vmDNS, err = parseVMDNS(v)
		default:
			err = fmt.Errorf("unknown argument %q", a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// limitSelf sets rlimits on the agent itself, soft and hard, before it holds anything: what bounds the
// sandbox as a whole rather than one command (the bwrap driver passes its fds, a file's size, no core).
// Each is capped at the hard limit the agent inherited, which an unprivileged process cannot raise.
func limitSelf(spec string) error {
	for _, kv := range strings.Split(spec, ",") {
		name, v, _ := strings.Cut(kv, "=")
		res, known := rlimitResources[name]
		n, err := strconv.ParseUint(v, 10, 64)
		if !known || err != nil || n > maxRlimit {
			return fmt.Errorf("--limits: %q is not NAME=N with a known rlimit and N in 0..2^53", kv)
		}
		var cur rlimit64
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(res), 0, uintptr(unsafe.Pointer(&cur)), 0, 0); e != 0 {
			return fmt.Errorf("--limits: reading %s: %w", name, e)
		}
		if n > cur.max {
			n = cur.max
		}
		lim := rlimit64{n, n}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(res), uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
			return fmt.Errorf("--limits: setting %s=%d: %w", name, n, e)
		}
	}
	return nil
}
