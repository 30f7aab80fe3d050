//go:build goshim

package main

// `go test -tags goshim` (scripts/test.sh) runs the exec tests once more against an agent without the C
// shim, so the Go one it falls back to stays right.
func init() { buildTags = "goshim" }
