// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pasta")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "pasta ") {
		t.Fatalf("unexpected --version output %q", out)
	}
}
