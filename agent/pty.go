package main

import (
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// openPty returns the master (non-blocking, so reads can time out) and the slave fd for the child.
func openPty(rows, cols uint16) (*os.File, int, error) {
	m, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, err
	}
	var unlock int32
	var n uint32
	if err = ioctl(m, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err == nil {
		err = ioctl(m, syscall.TIOCGPTN, unsafe.Pointer(&n))
	}
	if err == nil {
		err = setWinsize(m, rows, cols)
	}
	if err != nil {
		syscall.Close(m)
		return nil, -1, err
	}
	s, err := syscall.Open("/dev/pts/"+strconv.Itoa(int(n)), syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		syscall.Close(m)
		return nil, -1, err
	}
	if jobCred != nil {
		syscall.Fchown(s, int(jobCred.Uid), int(jobCred.Gid)) // the job's own terminal
	}
	syscall.SetNonblock(m, true)
	return os.NewFile(uintptr(m), "ptmx"), s, nil
}

func setWinsize(fd int, rows, cols uint16) error {
	ws := [4]uint16{rows, cols, 0, 0}
	return ioctl(fd, syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
}

// resizePty sets the size through the master (the kernel sends SIGWINCH to the terminal's foreground group).
func resizePty(f *os.File, rows, cols uint16) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = setWinsize(int(fd), rows, cols) }); err != nil {
		return err
	}
	return ierr
}

// pending is how many bytes wait in a pipe or terminal to be read (FIONREAD).
func pending(f *os.File) int64 {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var n int32
	rc.Control(func(fd uintptr) { ioctl(int(fd), syscall.TIOCINQ, unsafe.Pointer(&n)) })
	return int64(n)
}
