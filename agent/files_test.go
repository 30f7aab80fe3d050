package main

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileOp(op string, kv ...interface{}) map[string]interface{} {
	m := map[string]interface{}{"op": op}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func (c *client) writeFile(path string, data []byte, kv ...interface{}) map[string]interface{} {
	s := c.open(fileOp("write", append([]interface{}{"path", path}, kv...)...))
	c.send(s, data)
	c.closeInput(s)
	return c.result(s)
}

func TestWriteReadRoundTrip(t *testing.T) {
	c := startAgent(t)
	dir := t.TempDir()
	data := make([]byte, 1<<20+12345)
	rand.New(rand.NewSource(1)).Read(data)
	p := filepath.Join(dir, "a", "b", "blob")
	if r := c.writeFile(p, data, "mkdirs", true, "mode", 0600); r["size"] != float64(len(data)) {
		t.Fatalf("write %v", r)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0600 {
		t.Fatalf("written file: %v %v", fi, err)
	}
	s := c.open(fileOp("read", "path", p))
	var st map[string]float64
	json.Unmarshal(<-s.started, &st)
	r := c.result(s)
	if st["size"] != float64(len(data)) || st["mode"] != 0600 || r["size"] != float64(len(data)) || !s.eof[1] {
		t.Fatalf("STARTED %v RESULT %v", st, r)
	}
	if !bytes.Equal([]byte(s.output(1)), data) {
		t.Fatal("read back different bytes")
	}
	s = c.open(fileOp("read", "path", p, "offset", 100, "length", 10))
	c.result(s)
	if s.output(1) != string(data[100:110]) {
		t.Fatal("offset/length")
	}
	c.writeFile(p, []byte("xyz"), "append", true)
	if got, _ := os.ReadFile(p); len(got) != len(data)+3 || string(got[len(data):]) != "xyz" {
		t.Fatal("append")
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestWriteCancelLeavesNothing(t *testing.T) {
	c := startAgent(t)
	dir := t.TempDir()
	s := c.open(fileOp("write", "path", filepath.Join(dir, "f")))
	c.send(s, []byte("partial"))
	c.frame(s.id, tCancel)
	if code := c.errorCode(s); code != "cancelled" {
		t.Fatalf("code %s", code)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents[0].Name())
	}
}

func TestFileErrors(t *testing.T) {
	c := startAgent(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "full"), 0755)
	os.WriteFile(filepath.Join(dir, "full", "x"), nil, 0644)
	os.WriteFile(filepath.Join(dir, "file"), []byte("1"), 0644)
	j := func(n string) string { return filepath.Join(dir, n) }
	cases := []struct {
		op   map[string]interface{}
		code string
	}{
		{fileOp("read", "path", j("missing")), "not_found"},
		{fileOp("read", "path", dir), "is_dir"},
		{fileOp("stat", "path", j("missing")), "not_found"},
		{fileOp("mkdir", "path", j("full")), "exists"},
		{fileOp("mkdir", "path", j("no/such")), "not_found"},
		{fileOp("remove", "path", j("full")), "not_empty"},
		{fileOp("remove", "path", j("missing")), "not_found"},
		{fileOp("rename", "from", j("file"), "to", j("full")), "exists"},
		{fileOp("rename", "from", j("missing"), "to", j("y")), "not_found"},
		{fileOp("list", "path", j("file")), "not_dir"},
		{fileOp("list", "path", j("missing")), "not_found"},
		{fileOp("list", "path", dir, "depth", 33), "invalid"},
	}
	for _, tc := range cases {
		if code := c.errorCode(c.open(tc.op)); code != tc.code {
			t.Errorf("%v: %s, want %s", tc.op, code, tc.code)
		}
	}
	// write onto a directory, and into a missing directory without mkdirs
	for path, want := range map[string]string{j("full"): "is_dir", j("no/such/f"): "not_found"} {
		s := c.open(fileOp("write", "path", path))
		c.closeInput(s)
		if code := c.errorCode(s); code != want {
			t.Errorf("write %s: %s, want %s", path, code, want)
		}
	}
}

func TestStatMkdirRemoveRename(t *testing.T) {
	c := startAgent(t)
	dir := t.TempDir()
	j := func(n string) string { return filepath.Join(dir, n) }
	os.WriteFile(j("f"), []byte("hello"), 0640)
	os.Symlink("f", j("link"))
	r := c.result(c.open(fileOp("stat", "path", j("link"))))
	if r["type"] != "symlink" || r["target"] != "f" || r["name"] != "link" || r["path"] != j("link") {
		t.Fatalf("stat symlink %v", r)
	}
	r = c.result(c.open(fileOp("stat", "path", j("f"))))
	if r["type"] != "file" || r["size"] != 5.0 || r["mode"] != float64(0640) || r["mtime_ms"].(float64) <= 0 {
		t.Fatalf("stat file %v", r)
	}
	c.result(c.open(fileOp("mkdir", "path", j("d/e/f"), "parents", true, "mode", 0700)))
	c.result(c.open(fileOp("mkdir", "path", j("d/e/f"), "parents", true)))
	if fi, err := os.Stat(j("d/e/f")); err != nil || fi.Mode().Perm() != 0700 {
		t.Fatalf("mkdir: %v %v", fi, err)
	}
	c.result(c.open(fileOp("rename", "from", j("f"), "to", j("g"))))
	os.WriteFile(j("h"), nil, 0644)
	c.result(c.open(fileOp("rename", "from", j("g"), "to", j("h"), "overwrite", true)))
	if got, _ := os.ReadFile(j("h")); string(got) != "hello" {
		t.Fatal("rename overwrite")
	}
	c.result(c.open(fileOp("remove", "path", j("d"), "recursive", true)))
	c.result(c.open(fileOp("remove", "path", j("h"))))
	if _, err := os.Stat(j("d")); !os.IsNotExist(err) {
		t.Fatal("recursive remove")
	}
}

func TestList(t *testing.T) {
	c := startAgent(t)
	dir := t.TempDir()
	for _, p := range []string{"a/b/c/d", "a/x", "z"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0755)
		os.WriteFile(filepath.Join(dir, p), []byte("1"), 0644)
	}
	os.Symlink("/etc", filepath.Join(dir, "s"))
	list := func(kv ...interface{}) ([]string, map[string]interface{}) {
		s := c.open(fileOp("list", append([]interface{}{"path", dir}, kv...)...))
		r := c.result(s)
		var names []string
		for _, line := range strings.Split(strings.TrimSuffix(s.output(1), "\n"), "\n") {
			var e entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			names = append(names, strings.TrimPrefix(e.Path, dir+"/")+":"+e.Type)
		}
		return names, r
	}
	names, r := list()
	if strings.Join(names, " ") != "a:dir s:symlink z:file" || r["count"] != 3.0 || r["truncated"] != false {
		t.Fatalf("depth 1: %v %v", names, r)
	}
	names, _ = list("depth", 3)
	if strings.Join(names, " ") != "a:dir a/b:dir a/b/c:dir a/x:file s:symlink z:file" {
		t.Fatalf("depth 3: %v", names)
	}
	names, r = list("depth", 32, "max_entries", 2)
	if len(names) != 2 || r["truncated"] != true {
		t.Fatalf("max_entries: %v %v", names, r)
	}
}
