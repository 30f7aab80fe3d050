package main

import (
	"errors"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"
)

// exitGrace: how long after the process exits its output is still read when something it left running
// keeps the pipe open (bytes already in the pipe at exit are always delivered).
const exitGrace = 100 * time.Millisecond

type proc struct {
	st    *stream
	pid   int
	start time.Time
	exit  <-chan exitInfo
	stdin *os.File // pipe, or the PTY master
	pty   *os.File
	outs  []*pipeReader

	killOnExit string
	wall       *time.Timer
	mu         sync.Mutex
	exited     bool // the reaper has handed over its exit
	wallFired  bool // the wall_ms timer killed the group before that
}

// startExec runs on the reader loop, so CONTROL and CANCEL always find the process started.
func startExec(st *stream, payload []byte) error {
	var a execArgs
	if err := decodeArgs(payload, &a, "argv", "env", "cwd", "stdin"); err != nil {
		return err
	}
	if err := a.check(); err != nil {
		return err
	}
	lims, err := parseRlimits(a.Rlimits)
	if err != nil {
		return err
	}
	wall, err := parseWall(a.WallMs)
	if err != nil {
		return err
	}
	path, err := lookPath(a.Argv[0], a.Env, a.Cwd)
	if err != nil {
		return err
	}
	env := make([]string, 0, len(a.Env))
	for k, v := range a.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)

	p := &proc{st: st, killOnExit: a.KillOnExit}
	var child []int // the child's ends, closed here once it runs
	defer func() {
		for _, fd := range child {
			syscall.Close(fd)
		}
	}()
	attr := &syscall.ProcAttr{Dir: a.Cwd, Env: env, Sys: &syscall.SysProcAttr{Setsid: true, Credential: jobCred}}
	if a.Pty != nil {
		m, s, err := openPty(uint16(a.Pty.Rows), uint16(a.Pty.Cols))
		if err != nil {
			return err
		}
		child = append(child, s)
		p.pty, p.stdin = m, m
		p.outs = []*pipeReader{{f: m, st: st, ch: 1}}
		attr.Files = []uintptr{uintptr(s), uintptr(s), uintptr(s)}
		attr.Sys.Setctty = true
		attr.Sys.Ctty = 0
	} else {
		attr.Files = make([]uintptr, 3)
		if a.Stdin {
			r, w, err := pipe()
			if err != nil {
				return err
			}
			child = append(child, r)
			p.stdin = w
			attr.Files[0] = uintptr(r)
		} else {
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			child = append(child, fd)
			attr.Files[0] = uintptr(fd)
		}
		for ch := byte(1); ch <= 2; ch++ {
			r, w, err := pipeRead()
			if err != nil {
				p.closeAll()
				return err
			}
			child = append(child, w)
			p.outs = append(p.outs, &pipeReader{f: r, st: st, ch: ch})
			attr.Files[ch] = uintptr(w)
		}
	}
	// The start time is taken before the fork: the reaper may stamp the exit before ForkExec returns.
	p.start = time.Now()
	// Held until the group is registered: a sweep (exitkill.go) must not take the new process for a leftover.
	st.c.spawnMu.Lock()
	pid, exit, err := forkExec(st.c.rp, path, a.Argv, attr, lims)
	if err == nil {
		st.c.addGroup(pid, true)
	}
	st.c.spawnMu.Unlock()
	if err != nil {
		p.closeAll()
		var oe *opError
		if errors.As(err, &oe) {
			return err
		}
		if errors.Is(err, syscall.ENOENT) {
			return &opError{"not_found", err.Error()}
		}
		return &opError{"exec_failed", err.Error()}
	}
	p.pid, p.exit = pid, exit
	if wall > 0 {
		p.wall = time.AfterFunc(time.Until(p.start.Add(wall)), p.wallKill)
	}
	st.mu.Lock()
	st.control = p.control
	st.onCancel = func() { syscall.Kill(-pid, syscall.SIGKILL) }
	st.mu.Unlock()
	if err := st.started(map[string]int{"pid": pid}); err != nil {
		return err
	}
	if p.stdin != nil {
		go p.feed(a.Pty != nil)
	} else {
		st.in.close()
	}
	for _, r := range p.outs {
		r.done = make(chan struct{})
		go r.run()
	}
	go p.finish()
	return nil
}

// pipe returns (child's read end, our non-blocking write end); pipeRead the reverse.
func pipe() (int, *os.File, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return -1, nil, err
	}
	syscall.SetNonblock(fds[1], true)
	return fds[0], os.NewFile(uintptr(fds[1]), "stdin"), nil
}

func pipeRead() (*os.File, int, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, -1, err
	}
	syscall.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "out"), fds[1], nil
}

func (p *proc) closeAll() {
	if p.stdin != nil {
		p.stdin.Close()
	}
	for _, r := range p.outs {
		r.f.Close()
	}
}

// feed copies channel 0 to the process; the runner's EOF closes its stdin (on a PTY: sends ^D).
func (p *proc) feed(isPty bool) {
	_, err := io.Copy(p.stdin, &p.st.in)
	if err == nil && isPty {
		p.stdin.Write([]byte{4})
		return
	}
	p.st.in.close() // the process stopped reading: drop the rest, keep crediting the runner
	if !isPty {
		p.stdin.Close()
	}
}

func (p *proc) control(m controlMsg) error {
	if m.Signal != nil {
		sig, ok := controlSignals[*m.Signal]
		if !ok {
			return perr("unknown signal %q", *m.Signal)
		}
		syscall.Kill(-p.pid, sig)
		return nil
	}
	if m.Resize != nil && m.Resize.ok() {
		if p.pty != nil {
			resizePty(p.pty, uint16(m.Resize.Rows), uint16(m.Resize.Cols))
		}
		return nil
	}
	return perr("CONTROL needs a known signal or a resize of 1..65535")
}

func (p *proc) finish() {
	e := <-p.exit
	p.mu.Lock()
	p.exited = true
	byWall := p.wallFired
	p.mu.Unlock()
	if p.wall != nil {
		p.wall.Stop()
	}
	p.st.c.addGroup(p.pid, false)
	at, grace := e.at, exitGrace
	if p.killOnExit != "" {
		// What is left is dead and reaped before RESULT, so the next exec starts clean; nothing of
		// this exec holds the pipes any more, so there is nothing to wait for beyond what they hold.
		p.st.c.sweep(p.pid, p.killOnExit == "sandbox")
		at, grace = time.Now(), 0
	}
	for _, r := range p.outs {
		r.exited(at, grace)
	}
	for _, r := range p.outs {
		<-r.done
	}
	p.st.eof(1)
	p.st.eof(2)
	res := map[string]interface{}{"exit_code": nil, "signal": nil, "killed": nil,
		"wall_ms":    e.at.Sub(p.start).Milliseconds(),
		"cpu_ms":     (e.rusage.Utime.Nano() + e.rusage.Stime.Nano()) / 1e6,
		"max_rss_kb": e.rusage.Maxrss}
	if e.status.Signaled() {
		res["signal"] = signalName(e.status.Signal())
		// Only a SIGKILL is the agent's: a process that exited at the deadline, or died of its own signal, was not killed.
		if e.status.Signal() == syscall.SIGKILL {
			if byWall {
				res["killed"] = "wall"
			} else if p.st.isAborted() {
				res["killed"] = "cancel"
			}
		}
	} else {
		res["exit_code"] = e.status.ExitStatus()
	}
	p.st.result(res)
	p.st.in.close()
	p.closeAll()
}

// wallKill runs at the exec's wall_ms deadline: the group is killed unless the process already exited.
func (p *proc) wallKill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.wallFired = true
	syscall.Kill(-p.pid, syscall.SIGKILL)
}
