package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

const version = "0.1.0"

// opError ends an operation with an ERROR code of its own choosing.
type opError struct{ code, msg string }

func (e *opError) Error() string { return e.msg }

func invalid(format string, a ...interface{}) error {
	return &opError{"invalid", fmt.Sprintf(format, a...)}
}

// startOp starts the operation of an OPEN. A returned error ends the connection (a protocol error or a
// failed write to the runner); the operation's own failures end only its stream.
func startOp(st *stream, op string, payload []byte) error {
	if op != "exec" && op != "write" && op != "connect" {
		st.in.close() // reads no channel 0: bytes sent anyway are dropped and credited, not queued
	}
	var err error
	switch op {
	case "":
		return st.fail("invalid", "OPEN without op")
	case "exec":
		err = startExec(st, payload)
	case "listen":
		err = startListen(st, payload)
	case "write", "read", "stat", "list", "mkdir", "remove", "rename", "connect":
		go func() {
			if err := runAsync(st, op, payload); err != nil && err != errEnded {
				st.failErr(err)
			}
		}()
		return nil
	default:
		return st.fail("unsupported", fmt.Sprintf("unknown op %q", op))
	}
	if err != nil && err != errEnded {
		if _, ok := err.(*protoError); ok {
			return err
		}
		return st.failErr(err)
	}
	return nil
}

// runAsync runs the operations that may block on the filesystem or the network, off the reader loop.
func runAsync(st *stream, op string, payload []byte) error {
	switch op {
	case "write":
		return opWrite(st, payload)
	case "read":
		return opRead(st, payload)
	case "stat":
		return opStat(st, payload)
	case "list":
		return opList(st, payload)
	case "mkdir":
		return opMkdir(st, payload)
	case "remove":
		return opRemove(st, payload)
	case "rename":
		return opRename(st, payload)
	}
	return opConnect(st, payload)
}

// decodeArgs unmarshals an OPEN into v and checks that every field named in required is present.
func decodeArgs(payload []byte, v interface{}, required ...string) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return invalid("bad arguments: %v", err)
	}
	var m map[string]json.RawMessage
	json.Unmarshal(payload, &m)
	for _, k := range required {
		if raw, ok := m[k]; !ok || string(raw) == "null" {
			return invalid("missing %q", k)
		}
	}
	return nil
}

func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) > 4096 || strings.IndexByte(p, 0) >= 0 {
		return invalid("path must be absolute, at most 4096 bytes, without NUL")
	}
	return nil
}

func errCode(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.code
	}
	var no syscall.Errno
	if !errors.As(err, &no) {
		return "io"
	}
	switch no {
	case syscall.ENOENT:
		return "not_found"
	case syscall.EEXIST, syscall.EADDRINUSE:
		return "exists"
	case syscall.ENOTDIR:
		return "not_dir"
	case syscall.EISDIR:
		return "is_dir"
	case syscall.ENOTEMPTY:
		return "not_empty"
	case syscall.EACCES, syscall.EPERM, syscall.EROFS:
		return "permission"
	case syscall.EINVAL, syscall.ENAMETOOLONG, syscall.ELOOP:
		return "invalid"
	case syscall.ECONNREFUSED:
		return "refused"
	}
	return "io"
}
