// Command cuepatch writes the `go build -overlay` that gives CUE what cuepy
// needs and CUE lacks. In the evaluator, two hooks (cuelang.org/go issue
// 3752): a stop an embedding program can request (Ctrl-C, a timeout) and a
// bound on the evaluator's recursion (two known inputs recurse until Go's
// fatal stack overflow, which ends the host process). In package token, a
// column for a line info (go/token's AddLineColumnInfo), so that a position
// in a flattened module names the column the user wrote. Its file in package
// cue also lists a value's fields unsorted (CuepyFields), for the flattener's
// verification.
//
// It copies the pinned CUE module from the module cache into DIR/cue (its
// source, not its tests), changes four declarations there, found with
// go/parser, and adds three files of ours (overlay/); then it writes DIR/go.mod,
// this module's go.mod with `replace cuelang.org/go => DIR/cue`, and go.sum
// beside it, for `go build -modfile DIR/go.mod` (go build -overlay may not
// replace files of the module cache). CUE's source is never copied into this
// repository. cuepatch fails, naming what it missed, when the CUE it is given
// no longer has the declarations it expects: a CUE upgrade must revisit the
// hooks, not silently drop them.
//
//	go run ./cmd/cuepatch -cue $(go list -m -f '{{.Dir}}' cuelang.org/go) -gomod go.mod -out DIR
package main

import (
	"bytes"
	"embed"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed overlay/*.go
var ours embed.FS

// A change is one edit to one declaration of a CUE source file.
type change struct {
	file string                                                 // relative to the CUE module
	edit func(fset *token.FileSet, f *ast.File) (splice, error) // where and what to insert
}

// A splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

var changes = []change{
	{"internal/core/adt/unify.go", renameUnify},
	{"internal/core/adt/context.go", addDepthField},
	{"cue/token/position.go", renameUnpack},
	{"cue/token/position.go", addColumnsField},
}

// added maps our files to where each joins CUE's source.
var added = map[string]string{
	"overlay/adt_cuepy.go":   "internal/core/adt/cuepy.go",
	"overlay/cue_cuepy.go":   "cue/cuepy.go",
	"overlay/token_cuepy.go": "cue/token/cuepy.go",
}

func main() {
	cueDir := flag.String("cue", "", "directory of the cuelang.org/go module")
	gomod := flag.String("gomod", "", "this module's go.mod")
	out := flag.String("out", "", "directory to write the patched module and go.mod into")
	flag.Parse()
	if *cueDir == "" || *gomod == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: cuepatch -cue DIR -gomod FILE -out DIR")
		os.Exit(2)
	}
	if err := run(*cueDir, *gomod, *out); err != nil {
		fmt.Fprintln(os.Stderr, "cuepatch:", err)
		os.Exit(1)
	}
}

func run(cueDir, gomod, out string) error {
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	patched := filepath.Join(out, "cue")
	if err := os.RemoveAll(patched); err != nil {
		return err
	}
	if err := copySource(cueDir, patched); err != nil {
		return err
	}
	for _, c := range changes {
		path := filepath.Join(patched, filepath.FromSlash(c.file))
		text, err := patch(path, c.edit)
		if err != nil {
			return fmt.Errorf("%s: %w (the pinned CUE changed: revisit cmd/cuepatch)", c.file, err)
		}
		if err := write(path, text); err != nil {
			return err
		}
	}
	version, ok := strings.CutPrefix(filepath.Base(cueDir), "go@")
	if !ok {
		return fmt.Errorf("%s: not a module cache directory of cuelang.org/go (go@VERSION)", cueDir)
	}
	for src, dst := range added {
		if err := addOurs(src, filepath.Join(patched, filepath.FromSlash(dst)), version); err != nil {
			return err
		}
	}
	return writeModfile(gomod, patched, out)
}

// copySource copies the CUE module at from to to, leaving out tests and test data.
func copySource(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" || strings.HasSuffix(path, "_test.go") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return write(filepath.Join(to, rel), text)
	})
}

// addOurs writes our file src (without its `//go:build ignore`, with CUE's
// version in place of CUEPY_CUE_VERSION) to dst in CUE's source.
func addOurs(src, dst, version string) error {
	text, err := ours.ReadFile(src)
	if err != nil {
		return err
	}
	text, ok := bytes.CutPrefix(text, []byte("//go:build ignore\n\n"))
	if !ok {
		return fmt.Errorf("%s: expected a first line //go:build ignore", src)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s: CUE has a file of that name now", dst)
	}
	return write(dst, bytes.ReplaceAll(text, []byte("CUEPY_CUE_VERSION"), []byte(version)))
}

// writeModfile writes out/go.mod (gomod replacing cuelang.org/go with the
// patched copy) and out/go.sum (gomod's go.sum).
func writeModfile(gomod, patched, out string) error {
	mod, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	sum, err := os.ReadFile(strings.TrimSuffix(gomod, ".mod") + ".sum")
	if err != nil {
		return err
	}
	mod = fmt.Appendf(mod, "\n// Written by cmd/cuepatch: CUE with cuepy's evaluator hooks.\nreplace cuelang.org/go => %s\n", patched)
	if err := write(filepath.Join(out, "go.mod"), mod); err != nil {
		return err
	}
	return write(filepath.Join(out, "go.sum"), sum)
}

// patch returns the file at path with the splice edit finds applied.
func patch(path string, edit func(*token.FileSet, *ast.File) (splice, error)) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	s, err := edit(fset, f)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(src[:s.start])
	b.WriteString(s.text)
	b.Write(src[s.end:])
	return b.Bytes(), nil
}

// write stores text at path, making its directory.
func write(path string, text []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, text, 0o644)
}

// renameUnify renames `func (v *Vertex) unify(c *OpContext, flags Flags) bool`
// to cuepyUnify; overlay/adt_cuepy.go defines unify around it.
func renameUnify(fset *token.FileSet, f *ast.File) (splice, error) {
	return renameMethod(fset, f, "unify", "func (*Vertex) unify(*OpContext, Flags) bool")
}

// renameUnpack renames `func (f *File) unpack(offset index, adjusted bool)
// (filename string, line, column int)` to cuepyUnpack; overlay/token_cuepy.go
// defines unpack around it.
func renameUnpack(fset *token.FileSet, f *ast.File) (splice, error) {
	return renameMethod(fset, f, "unpack", "func (*File) unpack(index, bool) string, int, int")
}

// renameMethod renames the method name of signature want to cuepy<Name>.
func renameMethod(fset *token.FileSet, f *ast.File, name, want string) (splice, error) {
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name || fn.Recv == nil {
			continue
		}
		if got := signature(fn); got != want {
			return splice{}, fmt.Errorf("found %q, want %q", got, want)
		}
		start := fset.Position(fn.Name.Pos()).Offset
		return splice{start, start + len(name), "cuepy" + strings.ToUpper(name[:1]) + name[1:]}, nil
	}
	return splice{}, fmt.Errorf("no method %q", want)
}

// addDepthField adds the unify nesting counter to the OpContext struct (an
// OpContext is used by one goroutine at a time, as the evaluator's own
// evalDepth counter is).
func addDepthField(fset *token.FileSet, f *ast.File) (splice, error) {
	return addField(fset, f, "OpContext",
		"\n\t// cuepyDepth is the unify nesting (added by cuepy's cmd/cuepatch).\n\tcuepyDepth int64\n")
}

// addColumnsField adds the columns of line infos to token.File (guarded, as
// its infos, by its mutex).
func addColumnsField(fset *token.FileSet, f *ast.File) (splice, error) {
	return addField(fset, f, "File",
		"\n\t// cuepyColumns holds the column of each line info (added by cuepy's cmd/cuepatch).\n\tcuepyColumns []int\n")
}

// addField adds field (text) at the end of the struct type name.
func addField(fset *token.FileSet, f *ast.File, name, field string) (splice, error) {
	for _, d := range f.Decls {
		gen, ok := d.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, s := range gen.Specs {
			ts := s.(*ast.TypeSpec)
			if ts.Name.Name != name {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return splice{}, fmt.Errorf("%s is not a struct", name)
			}
			at := fset.Position(st.Fields.Closing).Offset
			return splice{at, at, field}, nil
		}
	}
	return splice{}, fmt.Errorf("no type %s", name)
}

// signature prints fn's receiver, parameter and result types, without names.
func signature(fn *ast.FuncDecl) string {
	types := func(fl *ast.FieldList) []string {
		var s []string
		if fl == nil {
			return s
		}
		for _, field := range fl.List {
			n := max(len(field.Names), 1)
			for range n {
				s = append(s, expr(field.Type))
			}
		}
		return s
	}
	res := strings.Join(types(fn.Type.Results), ", ")
	return fmt.Sprintf("func (%s) %s(%s) %s", strings.Join(types(fn.Recv), ", "), fn.Name.Name,
		strings.Join(types(fn.Type.Params), ", "), res)
}

func expr(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + expr(e.X)
	case *ast.SelectorExpr:
		return expr(e.X) + "." + e.Sel.Name
	}
	return fmt.Sprintf("%T", e)
}
