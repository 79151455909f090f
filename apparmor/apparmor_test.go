// SPDX-License-Identifier: GPL-2.0-or-later

package apparmor

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// defaultParserRoot is where test/install-deps.sh unpacks Debian trixie's
// apparmor and libc6 packages; PASST_APPARMOR_ROOT overrides it.
const defaultParserRoot = "/var/cache/passt-go-test/apparmor"

// profiles are the stand-alone profiles, each compiled on its own.
var profiles = []string{"usr.bin.passt", "usr.bin.pasta"}

// policyFiles are all the files installed under /etc/apparmor.d.
var policyFiles = []string{"usr.bin.passt", "usr.bin.pasta", "abstractions/passt", "abstractions/pasta"}

// parser runs trixie's apparmor_parser through trixie's loader.
type parser struct {
	root   string // unpacked packages
	loader string // ld-linux of trixie's libc6
	libdir string
}

// findParser locates the unpacked parser. A missing parser fails the test
// in CI (install-deps.sh should have fetched it) and skips it elsewhere.
func findParser(t *testing.T) *parser {
	t.Helper()
	root := os.Getenv("PASST_APPARMOR_ROOT")
	if root == "" {
		root = defaultParserRoot
	}
	p := &parser{root: root}
	loaders, _ := filepath.Glob(filepath.Join(root, "usr/lib/*/ld-linux*.so.*"))
	_, err := os.Stat(filepath.Join(root, "usr/sbin/apparmor_parser"))
	if err != nil || len(loaders) == 0 {
		msg := "AppArmor 4.1 parser not found under " + root +
			": run test/install-deps.sh as root (it unpacks Debian trixie's apparmor and libc6)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	p.loader = loaders[0]
	p.libdir = filepath.Dir(p.loader)
	return p
}

// run runs the parser with args and returns its combined output.
func (p *parser) run(args ...string) (string, error) {
	all := append([]string{"--library-path", p.libdir, filepath.Join(p.root, "usr/sbin/apparmor_parser")}, args...)
	out, err := exec.Command(p.loader, all...).CombinedOutput()
	return string(out), err
}

// compile compiles a profile without loading it (-Q) or touching a cache
// (-K), against the 4.0 feature ABI so that no rule is dropped as not
// enforced, with every warning an error. includeDir comes first in the
// include path, then trixie's own /etc/apparmor.d (abi, tunables,
// abstractions/base ...).
func (p *parser) compile(includeDir, profile string) (string, error) {
	sys := filepath.Join(p.root, "etc/apparmor.d")
	return p.run("--config-file=/dev/null", "-Q", "-K",
		"-M", filepath.Join(sys, "abi/4.0"),
		"--warn=all", "--Werror",
		"-I", includeDir, "-I", sys, "--base", sys,
		profile)
}

func TestParserIsAppArmor41(t *testing.T) {
	p := findParser(t)
	out, err := p.run("--version")
	if err != nil {
		t.Fatalf("apparmor_parser --version: %v\n%s", err, out)
	}
	if !strings.Contains(out, "AppArmor parser version 4.1") {
		t.Fatalf("not AppArmor 4.1's parser:\n%s", out)
	}
}

func TestProfilesCompile(t *testing.T) {
	p := findParser(t)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, prof := range profiles {
		out, err := p.compile(dir, filepath.Join(dir, prof))
		if err != nil {
			t.Errorf("%s does not compile: %v\n%s", prof, err, out)
		} else if strings.TrimSpace(out) != "" {
			t.Errorf("%s: unexpected parser output:\n%s", prof, out)
		}
	}
}

// TestBrokenProfilesRejected makes sure that the check above can fail:
// copies of the policy with one defect each must not compile.
func TestBrokenProfilesRejected(t *testing.T) {
	p := findParser(t)
	breakages := []struct {
		name, file, from, to, want string
	}{
		{"syntax error in an abstraction", "abstractions/passt", "  userns,\n", "  userns create mount,\n", "unexpected character"},
		{"unknown permission", "abstractions/pasta", "/dev/net/tun rw,", "/dev/net/tun rwz,", "syntax error"},
		{"missing include", "usr.bin.pasta", "include <abstractions/pasta>", "include <abstractions/pastaa>", "Could not open"},
		{"deprecated #include (a warning, made an error)", "usr.bin.passt", "{\n  include <abstractions/passt>", "{\n  #include <abstractions/passt>", "deprecated"},
		{"unbalanced braces", "usr.bin.passt", "include if exists <local/usr.bin.passt>\n}", "include if exists <local/usr.bin.passt>\n", "syntax error"},
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			dir := copyPolicy(t)
			path := filepath.Join(dir, b.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), b.from) {
				t.Fatalf("%s no longer contains %q: update the test", b.file, b.from)
			}
			broken := strings.Replace(string(data), b.from, b.to, 1)
			if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			prof := "usr.bin.passt"
			if strings.Contains(b.file, "pasta") {
				prof = "usr.bin.pasta"
			}
			out, err := p.compile(dir, filepath.Join(dir, prof))
			if err == nil {
				t.Fatalf("broken policy accepted:\n%s", out)
			}
			if !strings.Contains(out, b.want) {
				t.Fatalf("rejected, but not for %q:\n%s", b.want, out)
			}
		})
	}
}

// TestLibvirtExample compiles the example in usr.bin.passt's comment: a
// daemon profile with a passt subprofile that includes abstractions/passt.
func TestLibvirtExample(t *testing.T) {
	p := findParser(t)
	f, err := os.Open("usr.bin.passt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The example is the comment lines indented by three spaces after the
	// "#", before the profile itself.
	var example []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			if len(example) > 0 {
				break
			}
			continue
		}
		if strings.HasPrefix(line, "#   ") {
			example = append(example, strings.TrimPrefix(line, "#"))
		} else if line == "#" && len(example) > 0 {
			example = append(example, "")
		}
	}
	text := strings.Join(example, "\n")
	for _, want := range []string{"Cx -> passt", "include <abstractions/passt>", "signal (receive) set=(term"} {
		if !strings.Contains(text, want) {
			t.Fatalf("example lacks %q:\n%s", want, text)
		}
	}
	profile := "abi <abi/4.0>,\ninclude <tunables/global>\n" +
		"profile virtqemud /usr/sbin/virtqemud {\n  include <abstractions/base>\n" + text + "\n}\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "usr.sbin.virtqemud")
	if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	here, _ := filepath.Abs(".")
	if out, err := p.compile(here, path); err != nil {
		t.Fatalf("the libvirt example does not compile: %v\n%s\n%s", err, out, profile)
	}
	out, err := p.run("--config-file=/dev/null", "-N", "-Q", "-K", "-I", here,
		"-I", filepath.Join(p.root, "etc/apparmor.d"), "--base", filepath.Join(p.root, "etc/apparmor.d"), path)
	if err != nil || !strings.Contains(out, "virtqemud//passt") {
		t.Fatalf("no passt subprofile in the example: %v\n%s", err, out)
	}
}

// TestPolicyShape checks what the parser cannot: the ABI, user namespaces,
// the split between the abstractions, and the attachment paths.
func TestPolicyShape(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, name := range policyFiles {
		text := read(name)
		if !regexp.MustCompile(`(?m)^\s*abi <abi/4\.0>,$`).MatchString(text) {
			t.Errorf("%s: no abi <abi/4.0>", name)
		}
		if !strings.HasPrefix(text, "# SPDX-License-Identifier: GPL-2.0-or-later\n") {
			t.Errorf("%s: no SPDX header", name)
		}
	}
	passt, pasta := read("abstractions/passt"), read("abstractions/pasta")
	if !regexp.MustCompile(`(?m)^\s*userns,`).MatchString(passt) {
		t.Error("abstractions/passt does not allow user namespaces")
	}
	if strings.Contains(passt, "/dev/net/tun") {
		t.Error("abstractions/passt grants the tun device, which only pasta needs")
	}
	if !strings.Contains(pasta, "include <abstractions/passt>") || !strings.Contains(pasta, "/dev/net/tun rw,") {
		t.Error("abstractions/pasta does not build on abstractions/passt with the tun device")
	}
	attach := regexp.MustCompile(`(?m)^profile (\w+) (\S+) `)
	for _, c := range []struct{ file, name, abstraction string }{
		{"usr.bin.passt", "passt", "passt"}, {"usr.bin.pasta", "pasta", "pasta"},
	} {
		text := read(c.file)
		m := attach.FindStringSubmatch(text)
		if m == nil || m[1] != c.name {
			t.Errorf("%s: no profile named %s", c.file, c.name)
			continue
		}
		for _, bin := range []string{"/usr/bin/" + c.name, "/usr/local/bin/" + c.name} {
			if !globMatch(m[2], bin) {
				t.Errorf("%s: attachment %s does not cover %s", c.file, m[2], bin)
			}
		}
		if !strings.Contains(text, "include <abstractions/"+c.abstraction+">") {
			t.Errorf("%s does not include abstractions/%s", c.file, c.abstraction)
		}
		if !strings.Contains(text, "include if exists <local/"+c.file+">") {
			t.Errorf("%s has no local override include", c.file)
		}
	}
}

// globMatch matches an AppArmor attachment with {a,b} alternations (no
// nesting) and * against a path.
func globMatch(glob, path string) bool {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '{':
			re.WriteString("(?:")
		case '}':
			re.WriteString(")")
		case ',':
			re.WriteString("|")
		case '*':
			re.WriteString("[^/]*")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(path)
}

// copyPolicy copies the policy files to a temporary directory.
func copyPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "abstractions"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range policyFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
