package flatten

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/load"
)

// A module with its own catalog package: a base definition, two mixins and
// a blueprint that composes them and forwards its spec under a guard.
var files = map[string]string{
	"cue.mod/module.cue": "module: \"example.com/app@v0\"\nlanguage: version: \"v0.17.0\"\n",
	"cat/cat.cue": `package cat

#Base: close({
	#parts: [string]: _
	spec: {...}
	kind: "Thing"
})

#A: #Base & {#parts: a: true}
#B: close(#Base & {#parts: b: true})

_hidden: "h"
#Hidden: #Base & {#parts: h: _hidden}

#Blueprint: #Base & {
	#A
	#B
	spec: {
		bp: {x: int, y?: int}
		x: bp.x
		if bp.y != _|_ {
			y: bp.y
		}
	}
}
`,
	"app.cue": `package app

import c "example.com/app/cat@v0"

one: {
	c.#Blueprint
	spec: bp: {x: 1, y: 2}
}
two: {
	c.#Hidden
	spec: bp: 3
}
plain: {
	c.#A
}
`,
}

func writeModule(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFilesWritesOutCompositeDefinitions(t *testing.T) {
	dir := writeModule(t)
	inst := load.Instances([]string{"."}, &load.Config{Dir: dir})[0]
	if inst.Err != nil {
		t.Fatal(inst.Err)
	}
	res, err := Files(inst, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Component{}
	for _, c := range res.Components {
		byPath[c.Path] = c
	}
	if c := byPath["one"]; !c.Flattened || len(c.Inlined) != 3 {
		t.Errorf("one: %+v", c)
	}
	if c := byPath["two"]; c.Flattened || !strings.Contains(c.Reason, "_hidden is hidden") {
		t.Errorf("two: %+v", c)
	}
	if c, ok := byPath["plain"]; !ok || !c.Flattened {
		t.Errorf("plain (a mixin composing #Base) is written out too: %+v", c)
	}
	src := res.Files[0].Source
	for _, want := range []string{"c.#Base\n", "#parts: a: true", "#parts: b: true", "x: bp.x", "if bp.y != _|_"} {
		if !strings.Contains(src, want) {
			t.Errorf("output lacks %q:\n%s", want, src)
		}
	}
	if strings.Count(src, "c.#Base") != 2 { // once in one, once in plain
		t.Errorf("the base is embedded once per struct:\n%s", src)
	}
	if len(res.Files[0].Lines) == 0 {
		t.Error("no line map")
	}

	// The rewritten package evaluates to the same values.
	ctx := cuecontext.New()
	before := ctx.BuildInstance(load.Instances([]string{"."}, &load.Config{Dir: dir})[0])
	overlay := map[string]load.Source{res.Files[0].Name: load.FromString(src)}
	after := ctx.BuildInstance(load.Instances([]string{"."}, &load.Config{Dir: dir, Overlay: overlay})[0])
	for _, p := range []string{"one", "plain"} {
		a, _ := before.LookupPath(cuePath(p)).MarshalJSON()
		b, err := after.LookupPath(cuePath(p)).MarshalJSON()
		if err != nil || string(a) != string(b) {
			t.Errorf("%s: %s vs %s (%v)", p, a, b, err)
		}
	}
}

func cuePath(s string) cue.Path { return cue.ParsePath(s) }

// Files leaves the instance's syntax as it was: Package evaluates the module
// as written from the same instance while the rewrite runs.
func TestFilesLeavesTheInstanceAlone(t *testing.T) {
	dir := writeModule(t)
	inst := load.Instances([]string{"."}, &load.Config{Dir: dir})[0]
	if inst.Err != nil {
		t.Fatal(inst.Err)
	}
	printed := func() string {
		var out strings.Builder
		for _, i := range append([]*build.Instance{inst}, inst.Imports...) {
			for _, f := range i.Files {
				src, err := format.Node(f)
				if err != nil {
					t.Fatal(err)
				}
				out.Write(src)
			}
		}
		return out.String()
	}
	before := printed()
	res, err := Files(inst, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Files[0].Changed {
		t.Fatal("nothing was rewritten")
	}
	if after := printed(); after != before {
		t.Errorf("the instance's syntax changed:\n%s\nwas\n%s", after, before)
	}
	// The instance as loaded still evaluates.
	if v := cuecontext.New().BuildInstance(inst); v.Validate() != nil {
		t.Error(v.Validate())
	}
}
