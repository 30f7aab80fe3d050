package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

type entry struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Type    string `json:"type"`
	Size    int64  `json:"size"`
	Mode    uint32 `json:"mode"`
	MtimeMs int64  `json:"mtime_ms"`
	Target  string `json:"target,omitempty"`
}

func entryOf(path string, fi os.FileInfo) entry {
	e := entry{Name: fi.Name(), Path: path, Size: fi.Size(), MtimeMs: fi.ModTime().UnixMilli(),
		Mode: uint32(fi.Mode().Perm()), Type: "other"}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Mode = st.Mode & 07777
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Type = "file"
	case m.IsDir():
		e.Type = "dir"
	case m&os.ModeSymlink != 0:
		e.Type = "symlink"
		e.Target, _ = os.Readlink(path)
	}
	return e
}

type writeArgs struct {
	Path   string  `json:"path"`
	Mode   *uint32 `json:"mode"`
	Mkdirs bool    `json:"mkdirs"`
	Append bool    `json:"append"`
}

// opWrite writes channel 0 to a temporary file beside path and renames it at EOF, so a cancelled or
// broken upload leaves nothing behind.
func opWrite(st *stream, payload []byte) error {
	var a writeArgs
	if err := decodeArgs(payload, &a, "path"); err != nil {
		return err
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	mode := os.FileMode(0644)
	if a.Mode != nil {
		mode = os.FileMode(*a.Mode & 0777)
	}
	if a.Mkdirs {
		if err := mkdirAllForJob(filepath.Dir(a.Path)); err != nil {
			return err
		}
	}
	if fi, err := os.Lstat(a.Path); err == nil && fi.IsDir() {
		return &opError{"is_dir", a.Path + " is a directory"}
	}
	var f *os.File
	var err error
	if a.Append {
		_, missing := os.Lstat(a.Path)
		if f, err = os.OpenFile(a.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, mode); err == nil && missing != nil {
			fchownToJob(f) // one it created; best effort, the bytes are the answer
		}
	} else if f, err = os.CreateTemp(filepath.Dir(a.Path), ".paddock-write-*"); err == nil {
		if err = f.Chmod(mode); err == nil {
			err = fchownToJob(f) // after the chmod: the agent may change the mode of its own files only
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
		return err
	}
	n, err := io.Copy(f, &st.in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !a.Append {
		err = os.Rename(f.Name(), a.Path)
	}
	if err != nil {
		if !a.Append {
			os.Remove(f.Name())
		}
		return err
	}
	return st.result(map[string]int64{"size": n})
}

type readArgs struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Length *int64 `json:"length"`
}

func opRead(st *stream, payload []byte) error {
	var a readArgs
	if err := decodeArgs(payload, &a, "path"); err != nil {
		return err
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	if a.Offset < 0 || (a.Length != nil && *a.Length < 0) {
		return invalid("offset and length must be >= 0")
	}
	// O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
	f, err := os.OpenFile(a.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &opError{"is_dir", a.Path + " is a directory"}
	}
	if !fi.Mode().IsRegular() {
		return invalid("%s is not a regular file", a.Path)
	}
	if _, err := f.Seek(a.Offset, io.SeekStart); err != nil {
		return err
	}
	var r io.Reader = f
	if a.Length != nil {
		r = io.LimitReader(f, *a.Length)
	}
	if err := st.started(map[string]interface{}{"size": fi.Size(), "mode": entryOf(a.Path, fi).Mode}); err != nil {
		return err
	}
	n, err := io.CopyBuffer(chanWriter{st, 1}, r, make([]byte, 32768))
	if err != nil {
		return err
	}
	if err := st.eof(1); err != nil {
		return err
	}
	return st.result(map[string]int64{"size": n})
}

func opStat(st *stream, payload []byte) error {
	var a struct {
		Path string `json:"path"`
	}
	if err := decodeArgs(payload, &a, "path"); err != nil {
		return err
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	fi, err := os.Lstat(a.Path)
	if err != nil {
		return err
	}
	return st.result(entryOf(a.Path, fi))
}

func opMkdir(st *stream, payload []byte) error {
	var a struct {
		Path    string  `json:"path"`
		Parents bool    `json:"parents"`
		Mode    *uint32 `json:"mode"`
	}
	if err := decodeArgs(payload, &a, "path"); err != nil {
		return err
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	mode := os.FileMode(0755)
	if a.Mode != nil {
		mode = os.FileMode(*a.Mode & 0777)
	}
	if a.Parents {
		if fi, err := os.Stat(a.Path); err == nil && fi.IsDir() {
			return st.result(struct{}{})
		}
		if err := mkdirAllForJob(filepath.Dir(a.Path)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(a.Path, mode); err != nil {
		return err
	}
	if err := os.Chmod(a.Path, mode); err != nil { // Mkdir's mode went through the umask
		return err
	}
	if err := chownToJob(a.Path); err != nil {
		return err
	}
	return st.result(struct{}{})
}

func opRemove(st *stream, payload []byte) error {
	var a struct {
		Path      string `json:"path"`
		Recursive bool   `json:"recursive"`
	}
	if err := decodeArgs(payload, &a, "path"); err != nil {
		return err
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	fi, err := os.Lstat(a.Path)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir() && a.Recursive:
		err = os.RemoveAll(a.Path)
	case fi.IsDir():
		err = syscall.Rmdir(a.Path)
		if err == syscall.EEXIST {
			err = syscall.ENOTEMPTY
		}
	default:
		err = syscall.Unlink(a.Path)
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: a.Path, Err: err}
	}
	return st.result(struct{}{})
}

func opRename(st *stream, payload []byte) error {
	var a struct {
		From      string `json:"from"`
		To        string `json:"to"`
		Overwrite bool   `json:"overwrite"`
	}
	if err := decodeArgs(payload, &a, "from", "to"); err != nil {
		return err
	}
	if err := checkPath(a.From); err != nil {
		return err
	}
	if err := checkPath(a.To); err != nil {
		return err
	}
	if _, err := os.Lstat(a.From); err != nil {
		return err
	}
	if _, err := os.Lstat(a.To); err == nil && !a.Overwrite {
		return &opError{"exists", a.To + " exists"}
	}
	if err := os.Rename(a.From, a.To); err != nil {
		return err
	}
	return st.result(struct{}{})
}
