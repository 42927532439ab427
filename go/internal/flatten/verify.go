package flatten

import (
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/stop"
)

// Loader loads the package with the rewritten files laid over those on
// disk, each placed at its origins (loader.Place); nil loads it as written.
type Loader func(rewritten []File) (*build.Instance, error)

// ModuleError is an evaluation error of the module as written: the user's,
// not the flattener's.
type ModuleError struct{ Err error }

func (e *ModuleError) Error() string { return e.Err.Error() }
func (e *ModuleError) Unwrap() error { return e.Err }

// Written is the module as written, evaluated on a goroutine of its own
// (StartWritten), so that its evaluation overlaps the rewrite and the
// evaluation of the rewritten module.
type Written struct {
	done chan struct{}
	v    cue.Value
	err  error
}

// wait waits for the evaluation and returns its value or error.
func (w *Written) wait() (cue.Value, error) {
	<-w.done
	return w.v, w.err
}

// StartWritten starts evaluating the module as written (an error anywhere in
// it is the user's: a ModuleError).
func StartWritten(load Loader) *Written {
	w := &Written{done: make(chan struct{})}
	caller := stop.Thread()
	go func() {
		defer close(w.done)
		defer stop.Adopt(caller)() // stopped when the caller's evaluations are
		defer func() {             // a panic here would not reach the export's recover
			if r := recover(); r != nil {
				w.err = recovered(r, "evaluating the module as written")
			}
		}()
		w.v, w.err = evaluateWritten(load)
	}()
	return w
}

// recovered is the error of a panic recovered on a goroutine of ours: a
// stopped evaluation's, or an internal error while doing what.
func recovered(r any, what string) error {
	if s, ok := r.(cue.CuepyStop); ok {
		return stop.Error(s)
	}
	// (the stack, as the exports' guard gives it: a panic in CUE is reported upstream with it)
	return cueerr.WithCategory(cueerr.Internal, fmt.Errorf("internal error %s: %v\n%s", what, r, debug.Stack()))
}

// Verify compares the package as written (w, from StartWritten) and as
// rewritten by res and returns the rewritten package's value and the paths
// of the flattened structs whose values differ, with why.
//
// The rewritten module is evaluated in a context of its own (it is handed
// out and must not keep the evaluation of the module as written alive), so
// the values are never compared directly, only their summaries. A goroutine
// summarises the module as written while the caller evaluates and
// summarises the rewritten one; each module is walked by one goroutine only.
// A summary finishes the vertices it reaches, and CUE v0.17's evaluator
// races when two goroutines finish the same vertex (the race detector shows
// it in Iterator.Next; it panicked once in CI), so a cue.Value is not shared
// between goroutines here.
func Verify(load Loader, w *Written, res *Result) (cue.Value, map[string]string, error) {
	var paths []string
	for _, c := range res.Components {
		if c.Flattened {
			paths = append(paths, c.Path)
		}
	}
	var before summary
	var theirs error
	done := make(chan struct{})
	caller := stop.Thread()
	go func() {
		defer close(done)
		defer stop.Adopt(caller)()
		v, err := w.wait()
		if theirs = err; err == nil {
			before, theirs = summarise(v, paths)
		}
	}()
	flat, why := evaluateRewritten(load, res, paths)
	var after summary
	var ours error
	if why == "" {
		after, ours = summarise(flat, paths)
	}
	<-done
	for _, err := range []error{theirs, ours} { // (the module as written's error, if it failed, comes first)
		if err != nil {
			return cue.Value{}, nil, err
		}
	}
	differ := map[string]string{}
	if why != "" {
		for _, p := range paths {
			differ[p] = why
		}
		return cue.Value{}, differ, nil
	}
	for _, p := range paths {
		if where := before[p].difference(after[p]); where != "" {
			if os.Getenv("CUEPY_FLATTEN_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "flatten: values differ at %s\n  %q\n  %q\n", where, before[p][where], after[p][where])
			}
			differ[p] = "its value differs once written out"
		}
	}
	return flat, differ, nil
}

// summarise summarises module v at the paths; the error of a stop or a
// panic.
func summarise(v cue.Value, paths []string) (of summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered(r, "comparing the module as written and as rewritten")
		}
	}()
	of = make(summary, len(paths))
	for _, p := range paths {
		of[p] = summariseAt(v, p)
	}
	return of, nil
}

// evaluateWritten evaluates the module as written; an error anywhere in it
// is the user's.
func evaluateWritten(load Loader) (cue.Value, error) {
	inst, err := load(nil)
	if err != nil {
		return cue.Value{}, err
	}
	v := cuecontext.New().BuildInstance(inst)
	if err := cueerr.OfValue(v); err != nil { // (what a load of the module reports: no walk of a valid one)
		return cue.Value{}, &ModuleError{err}
	}
	return v, nil
}

// evaluateRewritten evaluates the rewritten module; a non-empty reason says
// why no struct of it can be trusted.
func evaluateRewritten(load Loader, res *Result, paths []string) (cue.Value, string) {
	for _, p := range paths {
		if cue.ParsePath(p).Err() != nil {
			return cue.Value{}, fmt.Sprintf("the path %q is not known", p)
		}
	}
	rewritten := []File{} // (not nil: nil loads the module as written)
	for _, f := range res.Files {
		if f.Changed {
			rewritten = append(rewritten, f)
		}
	}
	inst, err := load(rewritten)
	if err != nil {
		return cue.Value{}, "the rewritten files do not load: " + err.Error()
	}
	v := cuecontext.New().BuildInstance(inst)
	if err := v.Err(); err != nil {
		return cue.Value{}, "the rewritten files do not evaluate: " + err.Error()
	}
	return v, ""
}

// summary holds, for each struct path, what verification compares of it.
type summary map[string]leaves

// leaves maps a path below a struct to what is compared there: kind and
// error state, labels, list lengths and printed leaves.
type leaves map[string]string

// summariseAt is what verification compares of the struct at path p of v.
func summariseAt(v cue.Value, p string) leaves {
	l := leaves{}
	l.add(v.LookupPath(cue.ParsePath(p)), p, 0)
	return l
}

const maxCompareDepth = 100

// add records v at path: the same regular fields in depth, with the same
// kinds and leaves that print the same; definition and optional fields by
// their kind and labels only (they hold the catalog's schema, referred to the
// same way on both sides; comparing their whole value would cost several
// times the evaluation). Subsumption cannot compare the incomplete
// validators of a schema, and a struct's syntax shows its conjuncts rather
// than their result, hence this walk.
func (l leaves) add(v cue.Value, at string, depth int) {
	if depth > maxCompareDepth {
		return
	}
	kind := v.IncompleteKind()
	head := fmt.Sprintf("%v err=%t", kind, v.Err() != nil)
	switch kind {
	case cue.StructKind:
		all := fields(v)
		l[at] = head + " {" + labelsOf(all) + "}"
		for _, f := range all {
			if isRegular(f.label) {
				l.add(f.value, at+"."+f.label, depth+1)
			} else {
				l.shape(f.value, at+"."+f.label)
			}
		}
	case cue.ListKind:
		elems := elementsOf(v)
		l[at] = fmt.Sprintf("%s [%d]", head, len(elems))
		for i, e := range elems {
			l.add(e, fmt.Sprintf("%s[%d]", at, i), depth+1)
		}
	default:
		l[at] = head + leafMark + printLeaf(v)
	}
}

// leafMark separates a leaf's kind from its printed value (printed CUE
// escapes a NUL).
const leafMark = "\x00"

// printLeaf prints a scalar leaf: a concrete one without a default as JSON
// (exact for numbers; a fraction of the cost of its syntax), any other as
// CUE syntax (bounds, disjunctions and defaults show).
func printLeaf(v cue.Value) string {
	if _, hasDefault := v.Default(); !hasDefault && v.IsConcrete() {
		if b, err := v.MarshalJSON(); err == nil {
			return string(b)
		}
	}
	return printNode(v.Syntax(cue.Raw()))
}

// shape records a definition or optional field: its kind and labels.
func (l leaves) shape(v cue.Value, at string) {
	kind := v.IncompleteKind()
	if kind != cue.StructKind {
		l[at] = kind.String()
		return
	}
	l[at] = kind.String() + " {" + labelsOf(fields(v)) + "}"
}

type field struct {
	label string
	value cue.Value
}

// fields returns v's fields, definitions and optional ones included, in no
// particular order (Value.Fields' topological sort cost a third of a
// summary).
func fields(v cue.Value) []field {
	it := cue.CuepyFields(v)
	var out []field
	for it.Next() {
		out = append(out, field{it.Selector().String(), it.Value()})
	}
	return out
}

func labelsOf(fs []field) string {
	labels := make([]string, len(fs))
	for i, f := range fs {
		labels[i] = f.label
	}
	sort.Strings(labels)
	return strings.Join(labels, ",")
}

func isRegular(label string) bool {
	return !strings.HasPrefix(label, "#") && !strings.HasSuffix(label, "?")
}

func elementsOf(v cue.Value) []cue.Value {
	var out []cue.Value
	it, err := v.List()
	if err != nil {
		return nil
	}
	for it.Next() {
		out = append(out, it.Value())
	}
	return out
}

// difference names the first path where a and b differ ("" where they
// agree); a missing summary never agrees.
func (a leaves) difference(b leaves) string {
	if a == nil || b == nil {
		return "(not evaluated)"
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if bv, ok := b[k]; !ok || (bv != a[k] && !sameConjuncts(a[k], bv)) {
			return k
		}
	}
	if len(a) != len(b) {
		return "(fields differ)"
	}
	return ""
}

// sameConjuncts reports whether two printed leaves differ only in the order
// of their top-level conjuncts. A leaf printed as syntax lists them in the
// order unification met them, which writing a definition out may change
// (`#Schema & x.n` becomes `x.n & #Schema`); unification is commutative.
func sameConjuncts(x, y string) bool {
	kx, px, okx := strings.Cut(x, leafMark)
	ky, py, oky := strings.Cut(y, leafMark)
	if !okx || !oky || kx != ky {
		return false
	}
	cx, okx := conjuncts(px)
	cy, oky := conjuncts(py)
	return okx && oky && slices.Equal(cx, cy)
}

// conjuncts returns the imports and the top-level conjuncts of a printed
// leaf, each printed, sorted; false when it is not one expression.
func conjuncts(printed string) ([]string, bool) {
	f, err := parser.ParseFile("leaf.cue", printed)
	if err != nil {
		return nil, false
	}
	var imports, operands []string
	var expr ast.Expr
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.ImportDecl:
			for _, spec := range d.Specs {
				imports = append(imports, printNode(spec))
			}
		case *ast.EmbedDecl:
			if expr != nil {
				return nil, false
			}
			expr = d.Expr
		default:
			return nil, false
		}
	}
	if expr == nil {
		return nil, false
	}
	var collect func(e ast.Expr)
	collect = func(e ast.Expr) {
		if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.AND {
			collect(b.X)
			collect(b.Y)
			return
		}
		operands = append(operands, printNode(e))
	}
	collect(expr)
	sort.Strings(imports)
	sort.Strings(operands)
	return append(append(imports, "&"), operands...), true
}

func printNode(n ast.Node) string {
	b, err := format.Node(n)
	if err != nil {
		return "unprintable: " + err.Error()
	}
	return string(b)
}
