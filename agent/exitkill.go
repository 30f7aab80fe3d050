package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// An exec's kill_on_exit and wall_ms (docs/agent-protocol.md): what a judge needs to run test after test
// in one sandbox, each with its own deadline and none inheriting what the last one left running.

// maxWall bounds wall_ms (a year): past it time.Duration would overflow long before 2^53 ms.
const maxWall = 365 * 24 * time.Hour

// sweepTimeout bounds how long RESULT waits for what kill_on_exit killed to be reaped (a process stuck
// in the kernel, in D state, cannot be hurried); after it the RESULT goes out anyway.
const sweepTimeout = 5 * time.Second

// parseWall reads wall_ms: absent or null is none, else a plain integer 1 … a year in ms.
func parseWall(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n < 1 || n > uint64(maxWall/time.Millisecond) {
		return 0, invalid("wall_ms must be an integer 1..%d, got %s", maxWall/time.Millisecond, raw)
	}
	return time.Duration(n) * time.Millisecond, nil
}

type procStat struct {
	pid, ppid, pgrp int
	zombie, stopped bool
}

// listProcs reads every process's parent, group and state from /proc (those that vanish meanwhile are skipped).
func listProcs() []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]procStat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) S ppid pgrp …": comm may hold spaces and parentheses, so read after the last ')'.
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, err1 := strconv.Atoi(f[1])
		pgrp, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, procStat{pid: pid, ppid: ppid, pgrp: pgrp, zombie: f[0] == "Z" || f[0] == "X", stopped: f[0] == "T" || f[0] == "t"})
	}
	return out
}

// sweep kills what an exec whose main process has exited leaves behind and returns once all of it is
// reaped: its process group, and with everything also every other process the agent is an ancestor of
// (as PID 1 that is the whole sandbox; elsewhere the agent is a subreaper, so orphans stay below it) but
// those in another running exec's group — which catches a child that left the group with setsid.
//
// Killing pid by pid after a /proc scan races a fork storm: a child forked after the scan outlives its
// killed parent and forks on into the pids its killed kin free, and gVisor's kill(-1) does not hold
// forks off either. So with everything, sweep first stops what is left, pass after pass, until a scan
// finds every one stopped: a process sent SIGSTOP forks no more (a fork in flight is undone) and frees
// no pid, so nothing can have been born since that scan began. Then it kills them all. As PID 1 with no
// other exec running, kill(-1) stops and kills every other process at once besides the passes. A process
// that does not stop (asleep in the kernel) is not waited for past stopFor.
func (c *conn) sweep(pgid int, everything bool) {
	self := os.Getpid()
	deadline := time.Now().Add(sweepTimeout)
	var stopUntil time.Time // from the first pass: waiting for spawnMu does not use it up
	stopping := everything
	delay := 200 * time.Microsecond
	for {
		c.spawnMu.Lock()
		if stopUntil.IsZero() {
			stopUntil = time.Now().Add(stopFor)
		}
		atOnce := everything && self == 1 && c.runningExecs() == 0
		if stopping && atOnce {
			syscall.Kill(-1, syscall.SIGSTOP)
		}
		left, reused := c.leftovers(listProcs(), self, pgid, everything)
		if stopping && (!anyRunning(left) || time.Now().After(stopUntil)) {
			stopping = false
		}
		sig := syscall.SIGSTOP
		if !stopping {
			sig = syscall.SIGKILL
			if atOnce {
				syscall.Kill(-1, syscall.SIGKILL)
			}
		}
		if !reused {
			syscall.Kill(-pgid, sig)
		}
		for _, p := range left {
			if !p.zombie {
				syscall.Kill(p.pid, sig)
			}
		}
		c.spawnMu.Unlock()
		if len(left) == 0 || time.Now().After(deadline) {
			return
		}
		c.rp.sigchld() // the zombies among them are the agent's to reap
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

// stopFor bounds how long sweep stops leftovers before it kills them whether or not all have stopped.
const stopFor = 2 * time.Second

func anyRunning(ps []procStat) bool {
	for _, p := range ps {
		if !p.zombie && !p.stopped {
			return true
		}
	}
	return false
}

// leftovers picks what sweep kills and waits for. A zombie counts while its parent is the agent or is
// being killed too (then it comes to the agent); one whose parent lives on is that parent's to reap.
// reused: pgid is a running exec's group now (the exec's pid, once reaped, went to a new exec).
func (c *conn) leftovers(all []procStat, self, pgid int, everything bool) (out []procStat, reused bool) {
	children := make(map[int][]int, len(all))
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	below := map[int]bool{}
	for queue := children[self]; len(queue) > 0; queue = queue[1:] {
		if pid := queue[0]; !below[pid] {
			below[pid] = true
			queue = append(queue, children[pid]...)
		}
	}
	c.mu.Lock()
	live := make(map[int]bool, len(c.groups))
	for g := range c.groups {
		live[g] = true
	}
	c.mu.Unlock()
	reused = live[pgid]
	var picked []procStat
	chosen := map[int]bool{}
	for _, p := range all {
		if p.pid == self {
			continue
		}
		if (p.pgrp == pgid && !reused) || (everything && !live[p.pgrp] && below[p.pid]) {
			picked = append(picked, p)
			chosen[p.pid] = true
		}
	}
	for _, p := range picked {
		if !p.zombie || p.ppid == self || chosen[p.ppid] {
			out = append(out, p)
		}
	}
	return out, reused
}
