package main

import (
	"sync"
	"syscall"
	"time"
)

type exitInfo struct {
	status syscall.WaitStatus
	rusage syscall.Rusage
	at     time.Time
}

// reaper is the only caller of wait4: as PID 1 every orphan of the sandbox becomes our child, and each must
// be reaped; exits of processes an exec started go to that exec.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan exitInfo
	kick    chan struct{}
}

func newReaper() *reaper {
	r := &reaper{waiters: map[int]chan exitInfo{}, kick: make(chan struct{}, 1)}
	go r.loop()
	return r
}

// start runs fork under the lock, so a child that exits at once is not reaped before its waiter exists.
func (r *reaper) start(fork func() (int, error)) (int, <-chan exitInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan exitInfo, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// sigchld is called for every SIGCHLD; signals coalesce, so each kick reaps all that have exited.
func (r *reaper) sigchld() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *reaper) loop() {
	tick := time.NewTicker(time.Second) // in case a SIGCHLD was dropped
	for {
		select {
		case <-r.kick:
		case <-tick.C:
		}
		r.reapAll()
	}
}

func (r *reaper) reapAll() {
	for {
		var e exitInfo
		pid, err := syscall.Wait4(-1, &e.status, syscall.WNOHANG, &e.rusage)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		e.at = time.Now()
		r.mu.Lock()
		ch := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ch != nil {
			ch <- e
		}
	}
}
