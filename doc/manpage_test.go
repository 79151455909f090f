// SPDX-License-Identifier: GPL-2.0-or-later

package doc

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// optionTable reads the short option string and the long option names from
// conf/options.go.
func optionTable(t *testing.T) (short map[string]bool, long map[string]bool) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "conf", "options.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	short, long = map[string]bool{}, map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		switch vs.Names[0].Name {
		case "optstring":
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				t.Fatal("optstring is not a string literal")
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range strings.TrimLeft(s, "+-") {
				if c != ':' {
					short["-"+string(c)] = true
				}
			}
		case "longOptions":
			cl, ok := vs.Values[0].(*ast.CompositeLit)
			if !ok {
				t.Fatal("longOptions is not a composite literal")
			}
			for _, elt := range cl.Elts {
				opt, ok := elt.(*ast.CompositeLit)
				if !ok {
					t.Fatalf("unexpected element in longOptions at %s", fset.Position(elt.Pos()))
				}
				for _, field := range opt.Elts {
					kv, ok := field.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Name" {
						lit, ok := kv.Value.(*ast.BasicLit)
						if !ok {
							t.Fatalf("option name is not a literal at %s", fset.Position(kv.Pos()))
						}
						name, _ := strconv.Unquote(lit.Value)
						long["--"+name] = true
					}
				}
			}
		}
		return true
	})
	if len(short) < 20 || len(long) < 60 {
		t.Fatalf("option table not found in conf/options.go (%d short, %d long options)", len(short), len(long))
	}
	return short, long
}

var (
	fontEscape   = regexp.MustCompile(`\\f[BIRP]`)
	longInTag    = regexp.MustCompile(`(?:^|[\s,])(--[a-z0-9][a-z0-9-]*)`)
	shortInTag   = regexp.MustCompile(`(?:^|[\s,])(-[A-Za-z0-9])(?:$|[\s,])`)
	optionTagDef = regexp.MustCompile(`^\\fB\\-`)
)

// documentedOptions returns the options named in the tags of the .TP
// entries of the page's OPTIONS section.
func documentedOptions(t *testing.T, page string) (short, long map[string]bool) {
	t.Helper()
	short, long = map[string]bool{}, map[string]bool{}
	lines := strings.Split(page, "\n")
	inOptions := false
	for i, line := range lines {
		if strings.HasPrefix(line, ".SH ") {
			inOptions = line == ".SH OPTIONS"
			continue
		}
		if !inOptions || line != ".TP" || i+1 >= len(lines) || !optionTagDef.MatchString(lines[i+1]) {
			continue
		}
		tag := fontEscape.ReplaceAllString(lines[i+1], "")
		tag = strings.ReplaceAll(tag, `\-`, "-")
		// The argument placeholders follow the option names.
		for _, m := range longInTag.FindAllStringSubmatch(tag, -1) {
			long[m[1]] = true
		}
		for _, m := range shortInTag.FindAllStringSubmatch(tag, -1) {
			short[m[1]] = true
		}
	}
	return short, long
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestEveryOptionDocumented(t *testing.T) {
	page, err := os.ReadFile("passt.1")
	if err != nil {
		t.Fatal(err)
	}
	tableShort, tableLong := optionTable(t)
	docShort, docLong := documentedOptions(t, string(page))
	if m := diff(tableLong, docLong); len(m) > 0 {
		t.Errorf("long options without an entry in passt.1: %v", m)
	}
	if m := diff(tableShort, docShort); len(m) > 0 {
		t.Errorf("short options without an entry in passt.1: %v", m)
	}
	if m := diff(docLong, tableLong); len(m) > 0 {
		t.Errorf("passt.1 documents long options that conf/options.go lacks: %v", m)
	}
	if m := diff(docShort, tableShort); len(m) > 0 {
		t.Errorf("passt.1 documents short options that conf/options.go lacks: %v", m)
	}
}

// TestDocumentedOptionsCheckFails makes sure the comparison above can
// fail: a page without the entry for --config-net is caught.
func TestDocumentedOptionsCheckFails(t *testing.T) {
	page, err := os.ReadFile("passt.1")
	if err != nil {
		t.Fatal(err)
	}
	entry := ".TP\n\\fB\\-\\-config\\-net\\fR\n"
	if !bytes.Contains(page, []byte(entry)) {
		t.Fatal("passt.1 has no --config-net entry in the expected form")
	}
	trimmed := strings.Replace(string(page), entry, ".PP\n", 1)
	_, tableLong := optionTable(t)
	_, docLong := documentedOptions(t, trimmed)
	if m := diff(tableLong, docLong); len(m) != 1 || m[0] != "--config-net" {
		t.Fatalf("removing the --config-net entry gives missing options %v", m)
	}
}

// renderPage renders a page in a man1 directory with man --warnings -l
// and returns standard output and standard error.
func renderPage(t *testing.T, dir, page string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("man", "--warnings", "-l", filepath.Join("man1", page))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man --warnings -l %s: %v\n%s", page, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestPagesRenderWithoutWarnings(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		msg := "man not found: install man-db (test/install-deps.sh does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// pasta.1 refers to man1/passt.1: render both from a directory laid
	// out like a manual section, so that the reference resolves to this
	// page and not to an installed one.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "man1"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"passt.1", "pasta.1"} {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "man1", page), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	passt, warnings := renderPage(t, dir, "passt.1")
	if warnings != "" {
		t.Errorf("passt.1: warnings:\n%s", warnings)
	}
	for _, want := range []string{"PASST(1)", "--config-net", "--tcp-ports SPEC", "EXIT STATUS", "SEE ALSO"} {
		if !strings.Contains(passt, want) {
			t.Errorf("rendered passt.1 lacks %q", want)
		}
	}
	pasta, warnings := renderPage(t, dir, "pasta.1")
	if warnings != "" {
		t.Errorf("pasta.1: warnings:\n%s", warnings)
	}
	if pasta != passt {
		t.Errorf("pasta.1 does not render as passt.1")
	}

	// A page with a roff mistake must produce a warning, or the check
	// above proves nothing.
	broken := strings.Replace(passtSource(t), ".SH OPTIONS\n", ".SH OPTIONS\n\\fBunterminated \\x\n.BR\n.TP 3z\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "man1", "broken.1"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, warnings := renderPage(t, dir, "broken.1"); warnings == "" {
		t.Error("a page with roff mistakes rendered without warnings")
	}
}

func passtSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("passt.1")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPastaPageIsPasst(t *testing.T) {
	b, err := os.ReadFile("pasta.1")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != ".so man1/passt.1\n" {
		t.Fatalf("pasta.1 is %q, want a .so request for man1/passt.1", b)
	}
}
