package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
)

const maxListEntries = 100000

type lister struct {
	w         *bufio.Writer
	left      int
	count     int
	truncated bool
}

// opList sends entries below path, depth-first in name order, as JSON lines on channel 1.
func opList(st *stream, payload []byte) error {
	var a struct {
		Path       string `json:"path"`
		Depth      *int   `json:"depth"`
		MaxEntries *int   `json:"max_entries"`
	}
	if err := decodeArgs(payload, &a, "path"); err != nil {
		return err
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	depth, max := 1, maxListEntries
	if a.Depth != nil {
		depth = *a.Depth
	}
	if a.MaxEntries != nil {
		max = *a.MaxEntries
	}
	if depth < 1 || depth > 32 || max < 1 {
		return invalid("depth must be 1..32 and max_entries >= 1")
	}
	if max > maxListEntries {
		max = maxListEntries
	}
	fi, err := os.Stat(a.Path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &opError{"not_dir", a.Path + " is not a directory"}
	}
	l := &lister{w: bufio.NewWriterSize(chanWriter{st, 1}, 32768), left: max}
	if err := l.walk(filepath.Clean(a.Path), depth, true); err != nil {
		return err
	}
	if err := l.w.Flush(); err != nil {
		return err
	}
	if err := st.eof(1); err != nil {
		return err
	}
	return st.result(map[string]interface{}{"count": l.count, "truncated": l.truncated})
}

// walk lists dir; a subdirectory it cannot read is listed but not entered.
func (l *lister) walk(dir string, depth int, top bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil && top {
		return err
	}
	for _, d := range ents {
		if l.left == 0 {
			l.truncated = true
			return nil
		}
		p := filepath.Join(dir, d.Name())
		fi, err := d.Info()
		if err != nil {
			continue // removed meanwhile
		}
		line, _ := json.Marshal(entryOf(p, fi))
		if _, err := l.w.Write(append(line, '\n')); err != nil {
			return err
		}
		l.left--
		l.count++
		if d.IsDir() && depth > 1 {
			if err := l.walk(p, depth-1, false); err != nil {
				return err
			}
		}
	}
	return nil
}
