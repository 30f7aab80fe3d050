package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// jobCred, set by --run-as=UID, is who everything the agent starts runs as: UID:UID, no supplementary
// groups. The agent itself then runs as root with a few capabilities (the container's), and the commands,
// another user without any, can neither signal, ptrace nor open /proc/1/* of it whatever the kernel does
// for PID 1 or non-dumpable processes (gVisor lets a process of the same uid SIGKILL PID 1 and open
// /proc/1/fd). What the agent creates for them (files, directories) it gives to UID.
var jobCred *syscall.Credential

func setRunAs(v string) error {
	uid, err := strconv.ParseUint(v, 10, 31)
	if err != nil || uid == 0 {
		return fmt.Errorf("--run-as needs a uid above 0, got %q", v)
	}
	jobCred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}
	return nil
}

func chownToJob(path string) error {
	if jobCred == nil {
		return nil
	}
	return os.Lchown(path, int(jobCred.Uid), int(jobCred.Gid))
}

func fchownToJob(f *os.File) error {
	if jobCred == nil {
		return nil
	}
	return f.Chown(int(jobCred.Uid), int(jobCred.Gid))
}

// mkdirAllForJob is os.MkdirAll(dir, 0755), giving every directory it creates to the job's uid.
func mkdirAllForJob(dir string) error {
	var missing []string
	for d := dir; jobCred != nil; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == "/" || d == "." {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0755); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := chownToJob(missing[i]); err != nil {
			return err
		}
	}
	return nil
}

// dropBoundingSet empties the agent's capability bounding set (it keeps what it holds), so nothing it
// starts can hold a capability even through a setuid or file-capability binary (no-new-privileges already
// forbids that; this is the second lock). gVisor (2022) does not drop: the error says so, the agent goes on.
func dropBoundingSet() error {
	const prCapbsetRead, prCapbsetDrop = 23, 24
	for c := uintptr(0); c <= 63; c++ {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetRead, c, 0); e == syscall.EINVAL {
			return nil // past the kernel's last capability
		}
		// Capability sets are per thread: every thread of the runtime drops it, so any may fork.
		if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, prCapbsetDrop, c, 0); e != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
		}
	}
	return nil
}
