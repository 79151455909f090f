// SPDX-License-Identifier: GPL-2.0-or-later

// Package test holds the integration tests: they build the real binary and
// run it against the real system (namespaces, sockets, signals). They run
// as root in CI; a missing prerequisite fails them when CI=true.
package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// passtBin is the binary under test, built once for the package; shimBin
// the guest shim (see test/shim).
var passtBin, shimBin, connholdBin, udptoolBin, streamerBin, framefuzzBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "passt-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// World-readable, so that the engine can re-execute itself after
	// switching to nobody.
	_ = os.Chmod(dir, 0o755)
	passtBin = filepath.Join(dir, "passt")
	args := []string{"build", "-o", passtBin}
	if runtime.GOARCH == "amd64" {
		// The entry stub that joins user namespaces (see Makefile).
		args = append(args, "-ldflags=-E=main.pastaEntry")
	}
	build := exec.Command("go", append(args, "passt/cmd/passt")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building passt: %v\n%s", err, out)
		os.Exit(1)
	}
	shimBin = filepath.Join(dir, "shim")
	build = exec.Command("go", "build", "-o", shimBin, "passt/test/shim")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the shim: %v\n%s", err, out)
		os.Exit(1)
	}
	connholdBin = filepath.Join(dir, "connhold")
	build = exec.Command("go", "build", "-o", connholdBin, "passt/test/connhold")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building connhold: %v\n%s", err, out)
		os.Exit(1)
	}
	udptoolBin = filepath.Join(dir, "udptool")
	build = exec.Command("go", "build", "-o", udptoolBin, "passt/test/udptool")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building udptool: %v\n%s", err, out)
		os.Exit(1)
	}
	streamerBin = filepath.Join(dir, "streamer")
	build = exec.Command("go", "build", "-o", streamerBin, "passt/test/streamer")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building streamer: %v\n%s", err, out)
		os.Exit(1)
	}
	framefuzzBin = filepath.Join(dir, "framefuzz")
	build = exec.Command("go", "build", "-o", framefuzzBin, "passt/test/framefuzz")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building framefuzz: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
