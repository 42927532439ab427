package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"

	"cuepy.dev/libcue/internal/localmod"
)

func catalogFiles(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	root, _ := filepath.Abs("../cuepy")
	for _, dir := range []string{"catalog", "examples/large", "examples/nested"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(path) != ".cue" {
				return err
			}
			data, err := os.ReadFile(path)
			files[path] = data
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// nodes lists every node reachable from f, with the pointers its
// identifiers hold (Node, Scope), and the backing arrays of its slices.
func nodes(f *ast.File) (all map[ast.Node]bool, refs []ast.Node) {
	all = map[ast.Node]bool{}
	ast.Walk(f, func(n ast.Node) bool {
		all[n] = true
		if id, ok := n.(*ast.Ident); ok {
			refs = append(refs, id.Node, id.Scope)
		}
		return true
	}, nil)
	return all, refs
}

func TestCopyFileIsDeepAndEqual(t *testing.T) {
	for path, src := range catalogFiles(t) {
		orig, err := parser.ParseFile(path, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		cp := copyFile(orig)
		a, err := format.Node(orig)
		if err != nil {
			t.Fatal(err)
		}
		b, err := format.Node(cp)
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("%s: copy formats differently", path)
		}
		origNodes, _ := nodes(orig)
		cpNodes, cpRefs := nodes(cp)
		for n := range cpNodes {
			if origNodes[n] {
				t.Fatalf("%s: copy shares node %T with the original", path, n)
			}
		}
		for _, r := range cpRefs {
			if r != nil && origNodes[r] {
				t.Fatalf("%s: a copied identifier refers to the original's %T", path, r)
			}
			if r != nil && !cpNodes[r] {
				if _, ok := r.(*ast.File); !ok && !reflect.DeepEqual(r, ast.NewPredeclared("int").Node) {
					t.Fatalf("%s: a copied identifier refers outside the copy: %T", path, r)
				}
			}
		}
		if len(orig.Unresolved) != len(cp.Unresolved) {
			t.Fatalf("%s: unresolved identifiers differ", path)
		}
		for i, id := range cp.Unresolved {
			if id == orig.Unresolved[i] || !cpNodes[id] {
				t.Fatalf("%s: Unresolved[%d] not mapped to the copy", path, i)
			}
		}
		if len(orig.Decls) > 0 && &orig.Decls[0] == &cp.Decls[0] {
			t.Fatalf("%s: Decls backing array shared", path)
		}
	}
}

func TestCachedLoadsAgree(t *testing.T) {
	catalog, _ := filepath.Abs("../cuepy/catalog")
	dir, _ := filepath.Abs("../cuepy/examples/large")
	modules := map[string]localmod.Module{"cuepy.dev/opm@v0": {Version: "v0.1.0", Dir: catalog}}
	exportWith := func(on bool, args ...string) string {
		if on {
			parseCache.reset(defaultParseCacheBytes)
		} else {
			parseCache.reset(0)
		}
		defer parseCache.reset(defaultParseCacheBytes)
		var last string
		for i := 0; i < 3; i++ { // the second and third loads hit the cache
			v, err := loadValue(cuecontext.New(), &loadConfig{Dir: dir, Args: args, Modules: modules})
			if err != nil {
				t.Fatal(err)
			}
			data, err := v.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if last != "" && string(data) != last {
				t.Fatalf("load %d of %v differs from the one before", i, args)
			}
			last = string(data)
		}
		return last
	}
	for _, args := range [][]string{
		{"module_compiled.cue", "values.cue"},
		{"module_definition.cue", "values.cue"},
		{"values.cue"},
		{"module_compiled.cue"},
	} {
		if exportWith(true, args...) != exportWith(false, args...) {
			t.Errorf("%v: cached load differs from an uncached one", args)
		}
	}
	if parseCache.hits.Load() != 0 {
		t.Errorf("reset did not clear the counters")
	}
}

func BenchmarkParseCatalog(b *testing.B) {
	files := catalogFiles(b)
	for b.Loop() {
		for path, src := range files {
			if _, err := parser.ParseFile(path, src, parser.ParseComments); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCopyCatalog(b *testing.B) {
	var parsed []*ast.File
	for path, src := range catalogFiles(b) {
		f, err := parser.ParseFile(path, src, parser.ParseComments)
		if err != nil {
			b.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	for b.Loop() {
		for _, f := range parsed {
			copyFile(f)
		}
	}
}

func benchmarkLoadLarge(b *testing.B, cacheBytes int64) {
	catalog, _ := filepath.Abs("../cuepy/catalog")
	dir, _ := filepath.Abs("../cuepy/examples/large")
	modules := map[string]localmod.Module{"cuepy.dev/opm@v0": {Version: "v0.1.0", Dir: catalog}}
	parseCache.reset(cacheBytes)
	defer parseCache.reset(defaultParseCacheBytes)
	for b.Loop() {
		v, err := loadValue(cuecontext.New(), &loadConfig{Dir: dir, Args: []string{"module_compiled.cue", "values.cue"}, Modules: modules})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadLargeCached(b *testing.B)   { benchmarkLoadLarge(b, defaultParseCacheBytes) }
func BenchmarkLoadLargeUncached(b *testing.B) { benchmarkLoadLarge(b, 0) }
