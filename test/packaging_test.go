// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// installedPolicy maps the AppArmor files to where they are installed.
var installedPolicy = map[string]string{
	"apparmor/usr.bin.passt":      "etc/apparmor.d/usr.bin.passt",
	"apparmor/usr.bin.pasta":      "etc/apparmor.d/usr.bin.pasta",
	"apparmor/abstractions/passt": "etc/apparmor.d/abstractions/passt",
	"apparmor/abstractions/pasta": "etc/apparmor.d/abstractions/pasta",
}

// copySourceTree copies the repository (the parent of this directory) to
// dst, without version control data, built binaries or build products, so
// that builds there touch nothing here.
func copySourceTree(t *testing.T, dst string) {
	t.Helper()
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{
		".git": true, "passt": true, "pasta": true, "bench-out": true,
		"debian/passt-go": true, "debian/.debhelper": true, "debian/_build": true,
		"debian/files": true, "debian/debhelper-build-stamp": true,
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if skip[rel] || strings.HasSuffix(rel, ".test") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copying the source tree: %v", err)
	}
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// run runs a command in dir, failing the test with its output on error.
func run(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkHardLink checks that pasta is a hard link to passt, not a symbolic
// link or a copy.
func checkHardLink(t *testing.T, passt, pasta string) {
	t.Helper()
	pi, err := os.Lstat(passt)
	if err != nil {
		t.Fatal(err)
	}
	ai, err := os.Lstat(pasta)
	if err != nil {
		t.Fatal(err)
	}
	if !ai.Mode().IsRegular() {
		t.Errorf("%s is not a regular file (mode %v)", pasta, ai.Mode())
	}
	if !os.SameFile(pi, ai) {
		t.Errorf("%s and %s are different files, not hard links", passt, pasta)
	}
	if st, ok := pi.Sys().(*syscall.Stat_t); !ok || st.Nlink != 2 {
		t.Errorf("%s: link count is not 2", passt)
	}
	if pi.Mode().Perm() != 0o755 {
		t.Errorf("%s: mode %v, want 0755", passt, pi.Mode().Perm())
	}
}

// checkVersion runs bin --version and checks the first line.
func checkVersion(t *testing.T, bin, want string) {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	if line := firstLine(string(out)); line != want {
		t.Errorf("%s --version: %q, want %q", bin, line, want)
	}
}

// TestMakeInstallUninstall installs into a temporary DESTDIR with the
// default prefix (/usr/local), checks what is there, and uninstalls.
func TestMakeInstallUninstall(t *testing.T) {
	requireCommands(t, "make")
	src := filepath.Join(t.TempDir(), "src")
	copySourceTree(t, src)
	dest := t.TempDir()
	env := []string{"DESTDIR=" + dest, "VERSION=9.9-test"}
	run(t, 5*time.Minute, src, env, "make", "install")

	bin := filepath.Join(dest, "usr/local/bin")
	checkHardLink(t, filepath.Join(bin, "passt"), filepath.Join(bin, "pasta"))
	checkVersion(t, filepath.Join(bin, "passt"), "passt 9.9-test")
	checkVersion(t, filepath.Join(bin, "pasta"), "pasta 9.9-test")
	for _, page := range []string{"passt.1", "pasta.1"} {
		want, _ := os.ReadFile(filepath.Join(src, "doc", page))
		got, err := os.ReadFile(filepath.Join(dest, "usr/local/share/man/man1", page))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("man page %s not installed as it is in doc/ (%v)", page, err)
		}
	}
	// AppArmor reads /etc/apparmor.d only: not under the prefix.
	for from, to := range installedPolicy {
		want, _ := os.ReadFile(filepath.Join(src, from))
		got, err := os.ReadFile(filepath.Join(dest, to))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s not installed as /%s (%v)", from, to, err)
		}
	}

	run(t, time.Minute, src, env, "make", "uninstall")
	var left []string
	_ = filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, path)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("make uninstall left files behind: %v", left)
	}
}

// TestDebianPackage builds the Debian package from a copy of the tree and
// checks its contents and control data.
func TestDebianPackage(t *testing.T) {
	requireCommands(t, "dpkg-buildpackage", "dpkg-deb", "dpkg-parsechangelog", "dh", "dh_apparmor", "make")
	top := t.TempDir()
	src := filepath.Join(top, "passt-go")
	copySourceTree(t, src)
	start := time.Now()
	run(t, 5*time.Minute, src, nil, "dpkg-buildpackage", "-us", "-uc", "-b")
	t.Logf("dpkg-buildpackage took %v", time.Since(start).Round(time.Second))
	version := strings.TrimSpace(run(t, time.Minute, src, nil, "dpkg-parsechangelog", "-S", "Version"))

	debs, _ := filepath.Glob(filepath.Join(top, "passt-go_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("expected one package in %s, found %v", top, debs)
	}
	deb := debs[0]

	// dpkg -c lists: mode owner size date time path [-> target | link to path]
	listing := run(t, time.Minute, top, nil, "dpkg", "-c", deb)
	entries := map[string]string{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		entries[f[5]] = line
	}
	expect := func(path, pattern string) {
		t.Helper()
		line, ok := entries[path]
		if !ok {
			t.Errorf("%s is not in the package", path)
			return
		}
		if !regexp.MustCompile(pattern).MatchString(line) {
			t.Errorf("%s: %q does not match %q", path, line, pattern)
		}
	}
	expect("./usr/bin/passt", `^-rwxr-xr-x root/root\s+[1-9]`)
	expect("./usr/bin/pasta", `^hrwxr-xr-x root/root .* link to \./usr/bin/passt$`)
	expect("./usr/share/man/man1/passt.1.gz", `^-rw-r--r-- root/root`)
	expect("./usr/share/man/man1/pasta.1.gz", `^(l.* -> passt\.1\.gz|-rw-r--r-- .*)$`)
	for _, to := range installedPolicy {
		expect("./"+to, `^-rw-r--r-- root/root`)
	}
	expect("./usr/share/doc/passt-go/copyright", `^-rw-r--r--`)

	// Control data: the relation to Debian's passt, conffiles, and the
	// profile loading that dh_apparmor adds to postinst.
	fields := run(t, time.Minute, top, nil, "dpkg-deb", "-f", deb, "Package", "Version", "Conflicts", "Replaces", "Provides")
	for _, want := range []string{"Package: passt-go", "Version: " + version, "Conflicts: passt", "Replaces: passt", "Provides: passt"} {
		if !strings.Contains(fields, want+"\n") {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	conffiles := run(t, time.Minute, top, nil, "dpkg-deb", "-I", deb, "conffiles")
	for _, to := range installedPolicy {
		if !strings.Contains(conffiles, "/"+to+"\n") {
			t.Errorf("/%s is not a conffile:\n%s", to, conffiles)
		}
	}
	postinst := run(t, time.Minute, top, nil, "dpkg-deb", "-I", deb, "postinst")
	for _, prof := range []string{"usr.bin.passt", "usr.bin.pasta"} {
		if !strings.Contains(postinst, `APP_PROFILE="/etc/apparmor.d/`+prof+`"`) || !strings.Contains(postinst, "apparmor_parser -r") {
			t.Errorf("postinst does not load %s:\n%s", prof, postinst)
		}
	}

	// The programs in the package run, and carry the package's version.
	root := filepath.Join(top, "root")
	run(t, time.Minute, top, nil, "dpkg-deb", "-x", deb, root)
	checkHardLink(t, filepath.Join(root, "usr/bin/passt"), filepath.Join(root, "usr/bin/pasta"))
	checkVersion(t, filepath.Join(root, "usr/bin/pasta"), "pasta "+version)
	checkVersion(t, filepath.Join(root, "usr/bin/passt"), "passt "+version)
}
