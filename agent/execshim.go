//go:build !goshim

package main

import "embed"

// The C exec shim (execshim/shim.c), which scripts/build-agent.sh builds into execshim/paddock-exec. The
// directory is embedded, not the file, so that a tree without the binary still builds; its agent then
// runs every exec with rlimits through the Go shim (shim.go).
//
//go:embed execshim
var execShimFS embed.FS

func nativeShim() []byte {
	b, _ := execShimFS.ReadFile("execshim/paddock-exec")
	return b
}
