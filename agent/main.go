// Command paddock-agent runs inside a sandbox as its first process and carries out what the runner asks
// over stdin/stdout (docs/agent-protocol.md).
package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

const (
	prSetDumpable       = 4
	prSetChildSubreaper = 36
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == shimMarker {
		runShim(os.Args[2:]) // never returns
	}
	// One P: forwarding bytes needs no parallelism, and every OS thread counts against the sandbox's pids limit.
	runtime.GOMAXPROCS(1)
	log.SetFlags(0)
	log.SetPrefix("paddock-agent: ")
	// Non-dumpable first: processes of our uid can then neither ptrace us nor open /proc/<pid>/mem or fd/*.
	if err := prctl(prSetDumpable, 0); err != nil {
		log.Fatalf("prctl(PR_SET_DUMPABLE): %v", err)
	}
	if err := parseArgs(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
	if jobCred != nil {
		if err := dropBoundingSet(); err != nil {
			log.Print(err)
		}
	}
	if isVMInit() {
		port, err := vmInit()
		if err != nil {
			// PID 1 exiting panics the kernel, which ends the VM: the runner reports this line from the console.
			log.Fatalf("starting the VM: %v", err)
		}
		setupShim()
		rp := newReaper()
		catchSignals(rp)
		serveSerial(port, rp) // never returns
	}
	in, out, err := moveChannel()
	if err != nil {
		log.Fatalf("moving the channel off fds 0/1: %v", err)
	}
	setupShim()
	rp := newReaper()
	catchSignals(rp)
	if os.Getpid() != 1 {
		// Not PID 1 (tests on the host): still be the one that reaps what our execs leave behind.
		prctl(prSetChildSubreaper, 1)
	}
	c := newConn(in, out, rp)
	err = c.serve()
	c.killAll()
	if err != nil {
		log.Printf("closing the connection: %v", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func prctl(op, arg uintptr) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, op, arg, 0); e != 0 {
		return e
	}
	return nil
}

// moveChannel dups fds 0 and 1 to close-on-exec fds >= 3 and points 0 and 1 (and 2, when closed) at
// /dev/null, so nothing started later can inherit or stumble onto the channel.
func moveChannel() (*os.File, *os.File, error) {
	dup := func(fd int) (int, error) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 3)
		if e != 0 {
			return -1, fmt.Errorf("fd %d: %w", fd, e)
		}
		return int(r), nil
	}
	_, _, e2 := syscall.Syscall(syscall.SYS_FCNTL, 2, syscall.F_GETFD, 0)
	in, err := dup(0)
	if err != nil {
		return nil, nil, err
	}
	out, err := dup(1)
	if err != nil {
		return nil, nil, err
	}
	null, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	targets := []int{0, 1}
	if e2 != 0 && null != 2 {
		targets = append(targets, 2)
	}
	for _, fd := range targets {
		if err := syscall.Dup3(null, fd, 0); err != nil {
			return nil, nil, err
		}
	}
	if null > 2 {
		syscall.Close(null)
	}
	cloexecFrom3()
	// Non-blocking, so the runtime poller serves them without a thread blocked in read(2) per fd.
	syscall.SetNonblock(in, true)
	syscall.SetNonblock(out, true)
	return os.NewFile(uintptr(in), "channel-in"), os.NewFile(uintptr(out), "channel-out"), nil
}

// catchSignals catches the signals whose Go default would end the agent when a process of the sandbox
// sends them: as PID 1 the kernel delivers every signal the runtime has a handler for, and the runtime
// exits on SIGHUP, SIGINT and SIGTERM and crashes on a sent SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGILL …
// It ignores the rest (SIGUSR1, SIGPIPE, SIGALRM, real-time …) by itself; SIGTSTP, SIGTTIN and SIGTTOU
// would stop it where it is not PID 1 (tests on the host). Only these, not every signal:
// each enabled notifiable signal costs a round trip to the runtime's signal thread, and all 60 of them
// were 40% of the agent's start-up CPU. Caught, not SIG_IGN, since ignored dispositions would be
// inherited by every exec. SIGCHLD: reap.
var caughtSignals = []os.Signal{syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT,
	syscall.SIGABRT, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV,
	syscall.Signal(16) /* SIGSTKFLT */, syscall.SIGSYS, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU}

func catchSignals(rp *reaper) {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, caughtSignals...)
	go func() {
		for s := range ch {
			if s == syscall.SIGCHLD {
				rp.sigchld()
			}
		}
	}()
}

// cloexecFrom3 marks every fd from 3 up close-on-exec, so whatever the agent inherited is not passed on
// to the processes it starts. close_range (Linux 5.11) does it at once; else each open fd from /proc.
func cloexecFrom3() {
	const sysCloseRange, closeRangeCloexec = 436, 4
	if _, _, e := syscall.Syscall(sysCloseRange, 3, ^uintptr(0), closeRangeCloexec); e == 0 {
		return
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		log.Printf("cannot list inherited fds, they may reach children: %v", err)
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFD, syscall.FD_CLOEXEC)
		}
	}
}
