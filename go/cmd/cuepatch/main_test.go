package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cueDir is the pinned CUE module's directory.
func cueDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "cuelang.org/go").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go list -m cuelang.org/go: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// The hooks apply to the pinned CUE: the declarations cuepatch changes are
// there, changed as intended. A CUE upgrade that moves them fails here (and
// the build fails with the same message).
func TestPatchAppliesToThePinnedCUE(t *testing.T) {
	out := t.TempDir()
	if err := run(cueDir(t), "../../go.mod", out); err != nil {
		t.Fatal(err)
	}
	read := func(rel string) string {
		text, err := os.ReadFile(filepath.Join(out, "cue", rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(text)
	}
	if s := read("internal/core/adt/unify.go"); !strings.Contains(s, "func (v *Vertex) cuepyUnify(c *OpContext, flags Flags) bool {") {
		t.Error("unify.go: (*Vertex).unify not renamed")
	}
	if s := read("internal/core/adt/context.go"); !strings.Contains(s, "\tcuepyDepth int64\n}") {
		t.Error("context.go: no cuepyDepth field at the end of OpContext")
	}
	if s := read("internal/core/adt/cuepy.go"); strings.Contains(s, "//go:build ignore") || !strings.Contains(s, "func (v *Vertex) unify(") {
		t.Error("cuepy.go: our hook file is not in place")
	}
	if s := read("cue/token/position.go"); !strings.Contains(s, "func (f *File) cuepyUnpack(offset index, adjusted bool)") ||
		!strings.Contains(s, "\tcuepyColumns []int\n}") {
		t.Error("position.go: (*File).unpack not renamed or no cuepyColumns field at the end of File")
	}
	if s := read("cue/token/cuepy.go"); !strings.Contains(s, "func (f *File) unpack(") {
		t.Error("token/cuepy.go: our file is not in place")
	}
	if _, err := os.Stat(filepath.Join(out, "cue", "cue", "context_test.go")); err == nil {
		t.Error("tests were copied")
	}
	mod, err := os.ReadFile(filepath.Join(out, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "replace cuelang.org/go => "+filepath.Join(out, "cue")) {
		t.Errorf("go.mod: %v\n%s", err, mod)
	}
}

// A CUE whose evaluator no longer has the declaration is refused by name.
func TestPatchFailsLoudlyOnAnotherCUE(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "go@v9.9.9")
	adt := filepath.Join(fake, "internal", "core", "adt")
	if err := os.MkdirAll(adt, 0o755); err != nil {
		t.Fatal(err)
	}
	unify := "package adt\n\nfunc (v *Vertex) unify(c *OpContext, flags Flags, extra int) bool { return true }\n"
	if err := os.WriteFile(filepath.Join(adt, "unify.go"), []byte(unify), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(fake, "../../go.mod", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `found "func (*Vertex) unify(*OpContext, Flags, int) bool"`) ||
		!strings.Contains(err.Error(), "revisit cmd/cuepatch") {
		t.Fatalf("error %v", err)
	}
}
