// Command paddock-spawner starts the runner's bwrap processes for it. Node forks its whole address space for
// every child it spawns (libuv uses fork, not vfork): ~1.6 ms of CPU per sandbox for a runner of 170 MB, and
// more as it grows. This small static process, started once, forks with CLONE_VFORK instead (Go's ForkExec).
//
// Requests come as JSON lines on stdin, reports go as JSON lines on stdout (src/sandbox/bwrap/spawner.ts):
//
//	→ {"op":"spawn","id":ID,"file":F,"args":[…],"env":[…],"uid":U,"gid":G,"socket":S,"token":T,"seccomp":P,"block":B}
//	← {"id":ID,"pid":N} | {"id":ID,"error":"…"}, then {"id":ID,"status":"…"}…, {"id":ID,"status_end":true},
//	  {"id":ID,"stderr":"…"}…, {"id":ID,"exit":CODE,"signal":"SIGKILL"|null} once it has exited and its
//	  stderr and status fds are read
//	→ {"op":"unblock","id":ID}
//
// The child's stdin and stdout are one connection to the runner's Unix socket S, which first carries T and a
// newline (so the runner knows whose it is), then the agent's channel: no byte of it passes through here.
// Its stderr, bwrap's --json-status-fd (3) and --block-fd (4) are pipes of this process; the seccomp file
// P is opened here as fd 5. The spawner dies with the runner (PR_SET_PDEATHSIG), and bwrap's own
// --die-with-parent takes each sandbox with it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

type request struct {
	Op      string   `json:"op"`
	ID      string   `json:"id"`
	File    string   `json:"file"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	UID     *uint32  `json:"uid"`
	GID     *uint32  `json:"gid"`
	Socket  string   `json:"socket"`
	Token   string   `json:"token"`
	Seccomp string   `json:"seccomp"`
	Block   bool     `json:"block"`
}

// maxRequest bounds a request line (an argv of a few hundred mount arguments is ~20 KiB).
const maxRequest = 4 << 20

var (
	outMu sync.Mutex
	out   = json.NewEncoder(os.Stdout)
)

func report(v map[string]interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(v); err != nil {
		os.Exit(0) // the runner is gone
	}
}

type child struct {
	block   *os.File
	pending sync.WaitGroup // its stderr and status readers
}

var (
	mu       sync.Mutex
	children = map[string]*child{}
	byPid    = map[int]string{}
)

func main() {
	const prSetPdeathsig = 1
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGKILL), 0)
	if os.Getppid() == 1 {
		os.Exit(0) // the runner died before the death signal was armed
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		for range sigs {
			reap()
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), maxRequest)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			report(map[string]interface{}{"error": "bad request: " + err.Error()})
			continue
		}
		switch r.Op {
		case "spawn":
			if err := spawn(&r); err != nil {
				report(map[string]interface{}{"id": r.ID, "error": err.Error()})
			}
		case "unblock":
			mu.Lock()
			if c := children[r.ID]; c != nil && c.block != nil {
				c.block.Write([]byte("go")) // a pipe's first bytes: never blocks
				c.block.Close()
				c.block = nil
			}
			mu.Unlock()
		}
	}
	// stdin closed: the runner is gone or done. Every bwrap dies with us (--die-with-parent).
	os.Exit(0)
}

func spawn(r *request) error {
	mu.Lock()
	_, dup := children[r.ID]
	mu.Unlock()
	if dup || r.ID == "" || len(r.Args) == 0 {
		return fmt.Errorf("bad spawn request")
	}
	file, err := lookPath(r.File, r.Env)
	if err != nil {
		return err
	}
	channel, err := dialChannel(r.Socket, r.Token)
	if err != nil {
		return err
	}
	defer channel.Close()
	seccomp, err := os.Open(r.Seccomp)
	if err != nil {
		return err
	}
	defer seccomp.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer errW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		errR.Close()
		return err
	}
	defer statusW.Close()
	blockFd := null.Fd()
	var blockR, blockW *os.File
	if r.Block {
		if blockR, blockW, err = os.Pipe(); err != nil {
			errR.Close()
			statusR.Close()
			return err
		}
		defer blockR.Close()
		blockFd = blockR.Fd()
	}
	sys := &syscall.SysProcAttr{}
	if r.UID != nil && r.GID != nil {
		sys.Credential = &syscall.Credential{Uid: *r.UID, Gid: *r.GID, Groups: []uint32{}}
	}
	attr := &syscall.ProcAttr{Dir: "/", Env: r.Env, Sys: sys,
		Files: []uintptr{channel.Fd(), channel.Fd(), errW.Fd(), statusW.Fd(), blockFd, seccomp.Fd()}}
	c := &child{block: blockW}
	mu.Lock() // held across the fork, so a child that exits at once is known to reap()
	pid, err := syscall.ForkExec(file, r.Args, attr)
	if err != nil {
		mu.Unlock()
		errR.Close()
		statusR.Close()
		if blockW != nil {
			blockW.Close()
		}
		return err
	}
	children[r.ID] = c
	byPid[pid] = r.ID
	c.pending.Add(2)
	mu.Unlock()
	report(map[string]interface{}{"id": r.ID, "pid": pid})
	go relay(r.ID, "stderr", errR, &c.pending)
	go relay(r.ID, "status", statusR, &c.pending)
	return nil
}

// lookPath finds a bare command name in the child's PATH, as execvp would.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			for _, dir := range filepath.SplitList(kv[len("PATH="):]) {
				p := filepath.Join(dir, file)
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0111 != 0 {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: %w", file, syscall.ENOENT)
}

// dialChannel connects to the runner's socket and says whose connection it is; the file is a dup in
// blocking mode, as the child gets it.
func dialChannel(path, token string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(token + "\n")); err != nil {
		return nil, err
	}
	return conn.(*net.UnixConn).File()
}

// relay reports what the child writes on f; the end of its status fd too, which comes before its exit
// when bwrap failed after its clone and left that child holding stderr.
func relay(id, kind string, f *os.File, done *sync.WaitGroup) {
	defer done.Done()
	defer f.Close()
	if kind == "status" {
		defer report(map[string]interface{}{"id": id, "status_end": true})
	}
	buf := make([]byte, 16<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			report(map[string]interface{}{"id": id, kind: string(buf[:n])})
		}
		if err != nil {
			return
		}
	}
}

func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		mu.Lock()
		id := byPid[pid]
		c := children[id]
		delete(byPid, pid)
		delete(children, id)
		if c != nil && c.block != nil {
			c.block.Close()
			c.block = nil
		}
		mu.Unlock()
		if c == nil {
			continue
		}
		go func() {
			c.pending.Wait()
			m := map[string]interface{}{"id": id, "exit": nil, "signal": nil}
			if ws.Signaled() {
				m["signal"] = signalName(ws.Signal())
			} else {
				m["exit"] = ws.ExitStatus()
			}
			report(m)
		}()
	}
}

var signalNames = map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM",
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP",
	syscall.SIGSTOP: "SIGSTOP", syscall.SIGBUS: "SIGBUS", syscall.SIGPIPE: "SIGPIPE", syscall.SIGXCPU: "SIGXCPU"}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SIG%d", int(s))
}
