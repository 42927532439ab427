// Package flatten writes out, in place, the definitions that a CUE struct
// embeds when those definitions only compose other definitions.
//
// An OPM component that embeds a blueprint (`blueprints.#StatelessWorkload`)
// unifies one closed copy of the catalog's component definition per mixin the
// blueprint composes; CUE evaluates each copy. Embedding a definition `#B`
// whose value is `close(core.#Component & {decls})` is the same, for a valid
// module, as embedding `core.#Component` once and writing `decls` into the
// struct: CUE's references are lexical, and unifying a definition with itself
// changes nothing. The package does that rewrite on CUE's own syntax trees
// (parser, resolver, formatter), for any catalog: it knows no names.
//
// What cannot be written out safely (a reference to a hidden or let-bound
// name of another package, a definition declared twice, a disjunction, a
// label that would capture one of the user's own references) stays as
// written and is reported.
//
// Package drives the rewrite for cue_flatten: it loads the package (package
// loader) and, when asked, verifies it by evaluating the package as written
// and as rewritten.
package flatten

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/loader"
)

// Result is what Files gives back.
type Result struct {
	Files      []File      `json:"files"`
	Components []Component `json:"components"`
}

// File is one rewritten file of the user's package.
type File struct {
	Name    string      `json:"name"`
	Source  string      `json:"source"`
	Changed bool        `json:"changed"`
	Lines   loader.Rows `json:"lines"`
	// syntax is Source parsed as cue/load parses it (nil if it does not
	// parse): the line map is read from it and verification evaluates it.
	syntax *ast.File
}

// Component is one struct that embeds a definition the flattener looked at.
type Component struct {
	Path      string   `json:"path"`
	File      string   `json:"file"`
	Line      int      `json:"line"`
	Column    int      `json:"column"`
	Flattened bool     `json:"flattened"`
	Inlined   []string `json:"inlined"`
	Reason    string   `json:"reason,omitempty"`
}

type defKey struct {
	inst *build.Instance
	name string
}

func (k defKey) String() string { return k.inst.ImportPath + "." + k.name }

// atom is one part of an expanded definition: a definition kept as a
// reference, or a declaration written out.
type atom struct {
	ref  *defKey
	decl ast.Decl
}

type definition struct {
	expandable bool
	reason     string
	atoms      []atom
	inlined    []string
	// declared: the labels its written-out declarations add to a struct.
	declared map[string]bool
	// samePackage: names of the user's own package its declarations refer to.
	samePackage map[string]bool
}

type flattener struct {
	keep    map[string]string
	hints   map[*build.Instance]string // the name a file imported a package under
	root    *build.Instance
	defs    map[defKey]*definition
	aliases map[string]string // import path -> name in the user's files
	taken   map[string]bool   // every identifier in sight
	imports map[*ast.File]map[string]string
}

// Files rewrites the files of root whose names are in names (all of root's
// files when names is empty), leaving root's syntax as it was.
//
// Structs at the paths of keep stay as written, reported with the reason
// keep gives.
func Files(root *build.Instance, names []string, keep map[string]string) (*Result, error) {
	f := &flattener{
		keep:    keep,
		hints:   map[*build.Instance]string{},
		root:    root,
		defs:    map[defKey]*definition{},
		aliases: map[string]string{},
		taken:   map[string]bool{},
		imports: map[*ast.File]map[string]string{},
	}
	f.collectNames()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	res := &Result{}
	var files []*ast.File
	for _, file := range root.Files {
		if len(want) == 0 || want[file.Filename] {
			files = append(files, clone(file))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CUE file of the package to flatten")
	}
	for _, file := range files {
		f.userImports(file)
	}
	for _, file := range files {
		comps, changed := f.rewriteFile(file)
		res.Components = append(res.Components, comps...)
		out, err := f.print(file, changed)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, out)
	}
	return res, nil
}

// collectNames records the identifiers of the user's files, so that an
// import name the flattener adds can neither shadow nor be shadowed by one.
// (Names declared inside a written-out definition are checked where it is
// written out: see requalify.)
func (f *flattener) collectNames() {
	for _, file := range f.root.Files {
		ast.Walk(file, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				f.taken[id.Name] = true
			}
			return true
		}, nil)
	}
}

// userImports records the names under which a user's file imports packages.
func (f *flattener) userImports(file *ast.File) {
	names := map[string]string{}
	for spec := range file.ImportSpecs() {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue
		}
		imported := f.root.LookupImport(path)
		if imported == nil {
			continue
		}
		name := imported.PkgName
		if spec.Name != nil {
			name = spec.Name.Name
		}
		names[imported.ImportPath] = name
		if _, ok := f.aliases[imported.ImportPath]; !ok && name != "_" && name != "." {
			f.aliases[imported.ImportPath] = name
		}
	}
	f.imports[file] = names
}

// alias is the name the user's files import inst under, chosen once: the
// user's own import name, else the name the catalog file used (prefer), else
// the package name, made unique.
func (f *flattener) alias(inst *build.Instance, prefer string) string {
	if a, ok := f.aliases[inst.ImportPath]; ok {
		return a
	}
	base := prefer
	if base == "" || base == "_" || base == "." {
		base = inst.PkgName
	}
	if base == "" || base == "_" {
		base = "pkg"
	}
	name := base
	for i := 2; f.taken[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	f.taken[name] = true
	f.aliases[inst.ImportPath] = name
	return name
}

// print formats the file, adding the imports its written-out declarations
// use, and maps each printed line back to where its first node came from.
func (f *flattener) print(file *ast.File, changed bool) (File, error) {
	if changed {
		f.addImports(file)
	}
	src, err := format.Node(file)
	if err != nil {
		return File{}, fmt.Errorf("formatting %s: %w", file.Filename, err)
	}
	out := File{Name: file.Filename, Source: string(src), Changed: changed}
	if changed {
		if out.syntax, err = parser.ParseFile(file.Filename, src, parseConfig(f.root)); err == nil {
			out.Lines = lineMap(file, out.syntax)
		}
	}
	return out, nil
}

// parseConfig is how cue/load parses inst's files (build.Instance.parse).
func parseConfig(inst *build.Instance) parser.Config {
	cfg := parser.NewConfig(parser.ParseComments)
	if inst.ModuleFile != nil && inst.ModuleFile.Language != nil {
		cfg = cfg.Apply(parser.Version(inst.ModuleFile.Language.Version))
	}
	return cfg
}

// addImports adds an import for every alias used in the file that the file
// does not import under that name.
func (f *flattener) addImports(file *ast.File) {
	used := map[string]bool{}
	ast.Walk(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	}, nil)
	have := f.imports[file]
	var paths []string
	for path, alias := range f.aliases {
		if used[alias] && have[path] != alias {
			paths = append(paths, path)
		}
	}
	if len(paths) == 0 {
		return
	}
	sort.Strings(paths)
	var decl *ast.ImportDecl
	at := 0
	for i, d := range file.Decls {
		switch x := d.(type) {
		case *ast.ImportDecl:
			decl = x
		case *ast.Package:
			at = i + 1
		}
	}
	if decl == nil {
		decl = &ast.ImportDecl{Lparen: token.NoPos.WithRel(token.Newline), Rparen: token.NoPos}
		file.Decls = append(file.Decls[:at], append([]ast.Decl{decl}, file.Decls[at:]...)...)
	}
	if len(decl.Specs) > 0 && !decl.Lparen.IsValid() {
		decl.Lparen = token.NoPos.WithRel(token.Blank)
	}
	for _, path := range paths {
		spec := ast.NewImport(ast.NewIdent(f.aliases[path]), path)
		ast.SetRelPos(spec, token.Newline)
		decl.Specs = append(decl.Specs, spec)
	}
	if len(decl.Specs) > 1 && !decl.Lparen.IsValid() {
		decl.Lparen = token.NoPos.WithRel(token.Blank)
	}
}

func pathString(path []string) string {
	if path == nil {
		return ""
	}
	return strings.Join(path, ".")
}
