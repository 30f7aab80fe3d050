//go:build goshim

package main

// Built with -tags goshim (the agent's tests, to cover the fallback): no C shim, the Go one only.
func nativeShim() []byte { return nil }
