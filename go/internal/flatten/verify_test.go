package flatten

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
)

// written is a module whose struct "one" verification compares.
const written = `package app

#Schema: {name: string, port?: int}

one: {
	#Schema
	name: "web"
	replicas: 2
	nested: {tags: ["a", "b"], check: int & >0}
	#extra: {a: 1}
}
`

func verifyModule(t *testing.T, rewritten string) (map[string]string, error) {
	t.Helper()
	return verifyWith(t, written, rewritten)
}

// verifyWith verifies the struct "one" of module as written (app.cue) against rewritten.
func verifyWith(t *testing.T, module, rewritten string) (map[string]string, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.cue"), []byte(module), 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "app.cue")
	loader := func(rewritten []File) (*build.Instance, error) {
		cfg := &load.Config{Dir: dir, Overlay: map[string]load.Source{}}
		for _, f := range rewritten {
			cfg.Overlay[f.Name] = load.FromString(f.Source)
		}
		inst := load.Instances([]string{"."}, cfg)[0]
		return inst, inst.Err
	}
	res := &Result{
		Files:      []File{{Name: name, Source: rewritten, Changed: true}},
		Components: []Component{{Path: "one", File: name, Line: 5, Flattened: true}},
	}
	v, differ, err := Verify(loader, StartWritten(loader), res)
	if err == nil && len(differ) == 0 && v.LookupPath(cuePath("one.name")).Err() != nil {
		t.Errorf("the rewritten value handed back has no one.name")
	}
	return differ, err
}

func TestVerifyAcceptsTheSameValueWrittenDifferently(t *testing.T) {
	same := strings.Replace(written, "name: \"web\"", "name: \"w\" + \"eb\"", 1)
	differ, err := verifyModule(t, same)
	if err != nil || len(differ) != 0 {
		t.Fatalf("differ %v, err %v", differ, err)
	}
}

func TestVerifyAcceptsConjunctsInAnotherOrder(t *testing.T) {
	// A leaf that is not concrete prints its conjuncts in the order unification met them.
	module := strings.Replace(written, "replicas: 2", "replicas: #Count & limit", 1) + "\n#Count: int & >=1 | *1\nlimit: int\n"
	differ, err := verifyWith(t, module, strings.Replace(module, "#Count & limit", "limit & #Count", 1))
	if err != nil || len(differ) != 0 {
		t.Fatalf("differ %v, err %v", differ, err)
	}
	differ, err = verifyWith(t, module, strings.Replace(module, "#Count & limit", "limit & #Count & <10", 1))
	if err != nil || differ["one"] != "its value differs once written out" {
		t.Fatalf("a conjunct more: differ %v, err %v", differ, err)
	}
}

// guardedCopy is a component whose blueprint copies an optional struct of its
// own spec onto a trait's key with a guard inside the spec.
const guardedCopy = `package app

#Schema: {type: *"a" | "b", ports?: [...int]}
#Trait: {#spec: expose: #Schema}
#Blueprint: {#spec: bp: {expose?: #Schema}}
#Component: {
	#traits: [string]: _
	#blueprints: [string]: _
	spec: {
		for _, t in #traits {t.#spec}
		for _, b in #blueprints {b.#spec}
	}
}
#Guarded: #Component & {
	#traits: t: #Trait
	#blueprints: b: #Blueprint
	spec: {
		bp: #Blueprint.#spec.bp
		if bp.expose != _|_ {expose: bp.expose}
	}
}
`

func TestVerifyKeepsAnOptionalFieldOnlyTheRewriteAllows(t *testing.T) {
	// As written, CUE v0.17.1 reads one.spec.bp.expose.ports? as _|_: setting it in one's own
	// struct succeeds, but unifying one with {spec: bp: expose: ports: [1]} fails. Written out,
	// ports? is a list and both succeed: that is another value.
	written := guardedCopy + "one: {#Guarded, spec: bp: expose: type: \"b\"}\n"
	rewritten := guardedCopy + `one: {
	#Component
	#traits: t: #Trait
	#blueprints: b: #Blueprint
	spec: {
		bp: #Blueprint.#spec.bp
		if bp.expose != _|_ {expose: bp.expose}
	}
	spec: bp: expose: type: "b"
}
`
	differ, err := verifyWith(t, written, rewritten)
	if err != nil || differ["one"] != "its value differs once written out" {
		t.Fatalf("differ %v, err %v", differ, err)
	}
}

func TestSameConjunctsIgnoresTheirOrderOnly(t *testing.T) {
	leaf := func(printed string) string { return "int err=false" + leafMark + printed }
	imports := "import (\n\t\"a.test/s@v0\"\n\tt \"a.test/t@v0\"\n)\n\n"
	for _, c := range []struct {
		x, y string
		same bool
	}{
		{"s.#R & b.n", "b.n & s.#R", true},
		{"s.#R & b.n & >0", ">0 & s.#R & b.n", true},
		{imports + "s.#R & t.#N", "import (\n\tt \"a.test/t@v0\"\n\t\"a.test/s@v0\"\n)\n\nt.#N & s.#R", true},
		{"s.#R & b.n", "s.#R & b.m", false},
		{"s.#R & b.n", "s.#R | b.n", false},
		{"(s.#R | 1) & b.n", "(1 | s.#R) & b.n", false}, // (only the top-level conjuncts are reordered)
		{imports + "s.#R", "import \"a.test/u@v0\"\n\nu.#R", false},
	} {
		if got := sameConjuncts(leaf(c.x), leaf(c.y)); got != c.same {
			t.Errorf("sameConjuncts(%q, %q) = %v", c.x, c.y, got)
		}
	}
	if sameConjuncts(leaf("a & b"), "string err=false"+leafMark+"b & a") {
		t.Errorf("leaves of other kinds agreed")
	}
}

func TestVerifyFindsChangedValues(t *testing.T) {
	for name, change := range map[string][2]string{
		"leaf in depth":       {`tags: ["a", "b"]`, `tags: ["a", "c"]`},
		"list length":         {`tags: ["a", "b"]`, `tags: ["a"]`},
		"validator":           {`int & >0`, `int & >1`},
		"regular field added": {`replicas: 2`, `replicas: 2, extra: 1`},
		"definition's labels": {`#extra: {a: 1}`, `#extra: {a: 1, b: 2}`},
		"optional field gone": {`port?: int`, `port: int`},
		"kind of a leaf":      {`replicas: 2`, `replicas: "2"`},
	} {
		t.Run(name, func(t *testing.T) {
			rewritten := strings.Replace(written, change[0], change[1], 1)
			if rewritten == written {
				t.Fatalf("%q not in the module", change[0])
			}
			differ, err := verifyModule(t, rewritten)
			if err != nil {
				t.Fatal(err)
			}
			if differ["one"] != "its value differs once written out" {
				t.Fatalf("differ = %v", differ)
			}
		})
	}
}

func TestVerifyKeepsEveryStructWhenTheRewriteDoesNotEvaluate(t *testing.T) {
	differ, err := verifyModule(t, strings.Replace(written, `replicas: 2`, `replicas: 2 & 3`, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(differ["one"], "the rewritten files do not evaluate") {
		t.Fatalf("differ = %v", differ)
	}
}

func TestVerifyReportsTheWrittenModulesErrorAsTheUsers(t *testing.T) {
	dir := t.TempDir()
	broken := strings.Replace(written, `replicas: 2`, `replicas: 2 & 3`, 1)
	if err := os.WriteFile(filepath.Join(dir, "app.cue"), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	loader := func([]File) (*build.Instance, error) {
		inst := load.Instances([]string{"."}, &load.Config{Dir: dir})[0]
		return inst, inst.Err
	}
	_, _, err := Verify(loader, StartWritten(loader), &Result{Components: []Component{{Path: "one", Flattened: true}}})
	var written *ModuleError
	if !errors.As(err, &written) || !strings.Contains(err.Error(), "conflicting values") {
		t.Fatalf("err = %v", err)
	}
}

// A stop (a panic) while the rewrite is evaluated leaves no goroutine behind
// waiting for it: the one summarising the module as written finishes.
func TestVerifyLeavesNoGoroutineWhenTheRewriteIsStopped(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.cue"), []byte(written), 0o600); err != nil {
		t.Fatal(err)
	}
	loader := func(rewritten []File) (*build.Instance, error) {
		if rewritten != nil {
			panic("stopped while loading the rewrite")
		}
		inst := load.Instances([]string{"."}, &load.Config{Dir: dir})[0]
		return inst, inst.Err
	}
	w := StartWritten(loader)
	if _, err := w.wait(); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Verify did not pass the panic on")
			}
		}()
		Verify(loader, w, &Result{Components: []Component{{Path: "one", Flattened: true}}})
	}()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left, %d before", runtime.NumGoroutine(), before)
		}
	}
}

// The fields a summary walks are those Value.Fields gives with definitions
// and optional fields: the same labels and values, hidden fields, lets and
// comprehension fields not yielded left out.
func TestFieldsAreThoseOfValueFields(t *testing.T) {
	v := cuecontext.New().CompileString(`
#D: {a: int, b?: string, c!: bool}
x: {
	#D
	z: 1
	a: 2
	_hidden: 3
	let l = 4
	y: l
	if false {never: 5}
	if true {yielded: 6}
	#def: {k: 7}
	opt?: 8
	req!: 9
	(string & "dyn"): 10
	[=~"^p"]: int
	p1: 11
}
d: *{one: 1} | {two: 2}
// references to fields no comprehension yielded (arcs CUE may hold as pending)
probe: x.never == _|_
q: {
	for k, _ in x if k == "none" {(k): 1}
	if x.yielded == 7 {seven: 1}
}
probeQ: q.none == _|_ && q.seven == _|_
`)
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"x", "d", "q"} {
		at := v.LookupPath(cue.ParsePath(path))
		it, err := at.Fields(cue.Definitions(true), cue.Optional(true))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for it.Next() {
			want[it.Selector().String()] = fmt.Sprint(it.Value())
		}
		got := map[string]string{}
		for _, f := range fields(at) {
			got[f.label] = fmt.Sprint(f.value)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fields %v, Value.Fields %v", path, got, want)
		}
	}
}
