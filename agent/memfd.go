package main

import (
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// memfd_create's number where Go 1.19's syscall tables lack it.
var sysMemfdCreate = map[string]uintptr{"amd64": 319, "arm64": 279}[runtime.GOARCH]

const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	mfdExec         = 0x10 // Linux 6.3+: executable even where vm.memfd_noexec = 1
	fAddSeals       = 1033
	sealAll         = 0x1 | 0x2 | 0x4 | 0x8 // F_SEAL_SEAL, SHRINK, GROW, WRITE
	memfdMinFd      = 16
)

// sealedExecutable puts data in a close-on-exec memfd that nothing can change any more and returns a path
// to exec it by (/proc/self/fd/N: a forked child resolves it in its own copy of the fd table, and execve
// reads the file before it closes close-on-exec fds). The agent is non-dumpable, so no process of its uid
// can open it through /proc/1/fd, and it is execute-only for the others. "" when the kernel has no memfd or
// refuses to exec one.
func sealedExecutable(name string, data []byte) string {
	if sysMemfdCreate == 0 || len(data) == 0 {
		return ""
	}
	namep, _ := syscall.BytePtrFromString(name)
	fd, _, e := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(namep)), mfdCloexec|mfdAllowSealing|mfdExec, 0)
	if e == syscall.EINVAL { // a kernel before MFD_EXEC
		fd, _, e = syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(namep)), mfdCloexec|mfdAllowSealing, 0)
	}
	if e != 0 {
		return ""
	}
	for off := 0; off < len(data); {
		n, err := syscall.Write(int(fd), data[off:])
		if err != nil {
			syscall.Close(int(fd))
			return ""
		}
		off += n
	}
	// Execute-only: gVisor lets a process of another uid open /proc/1/fd/N, and the commands under
	// --run-as must still exec it (an ELF needs no read permission to run).
	if syscall.Fchmod(int(fd), 0111) != nil {
		syscall.Close(int(fd))
		return ""
	}
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, fAddSeals, sealAll); e != 0 {
		syscall.Close(int(fd))
		return ""
	}
	// Above the fds a forked child rearranges before its execve (ForkExec moves attr.Files to 0…n-1,
	// through n…2n-1 when they collide), so no dup2 there can land on it.
	if high, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, memfdMinFd); e == 0 {
		syscall.Close(int(fd))
		fd = high
	}
	return "/proc/self/fd/" + strconv.Itoa(int(fd))
}
