package main

// Concurrent use of the exports, as Python threads do it: compile into a
// shared context, and look up and decode a shared value, from 8 goroutines
// at once. (Run with -race if you like; cgo does not prevent it.)

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestConcurrentCompileLookupDecode(t *testing.T) {
	ctx := newCtx(t)
	shared := mustCompile(t, ctx, `
a: b: {c: "hello", d: 42, e: [1, 2, 3]}
n: 123456789012345678901234567890
m: *7 | int
#D: {x: int}
`)
	wantShared := `{"a":{"b":{"c":"hello","d":42,"e":[1,2,3]}},"n":123456789012345678901234567890,"m":7}`
	start := testLiveHandles()

	const goroutines, rounds = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for i := range rounds {
					// compile into the shared context
					h, e := testCompile(ctx, fmt.Sprintf("g: %d\ni: %d\ns: \"g%d-%d\"\n", g, i, g, i), "")
					if e != "" {
						return fmt.Errorf("compile: %s", e)
					}
					data, _, e := testDecode(h)
					if want := fmt.Sprintf(`{"g":%d,"i":%d,"s":"g%d-%d"}`, g, i, g, i); e != "" || data != want {
						return fmt.Errorf("decode of own value = %q, %s; want %q", data, e, want)
					}
					// unify own value with the shared one
					u, e := testUnify([]uint64{shared, h})
					if e != "" {
						return fmt.Errorf("unify: %s", e)
					}
					if k, _, c, e := testKind(u); e != "" || k != testKindStruct || !c {
						return fmt.Errorf("kind of unified = %d %v %s", k, c, e)
					}
					// look up and decode in the shared value
					for path, want := range map[string]string{"a.b.c": "hello", "a.b.d": "42", "n": "123456789012345678901234567890", "m": "7"} {
						l, e := testLookup(shared, path)
						if e != "" || l == 0 {
							return fmt.Errorf("lookup %s: %d %s", path, l, e)
						}
						data, _, e := testDecode(l)
						if e != "" || data != want {
							return fmt.Errorf("decode %s = %q, %s", path, data, e)
						}
						if e := testFree(l); e != "" {
							return fmt.Errorf("free: %s", e)
						}
					}
					if data, _, e := testDecode(shared); e != "" || data != wantShared {
						return fmt.Errorf("decode of shared = %q, %s", data, e)
					}
					if labels, hs, e := testFields(shared, testOptDefinitions); e != "" || labels != `["a","n","m","#D"]` || len(hs) != 4 {
						return fmt.Errorf("fields of shared = %s %v %s", labels, hs, e)
					} else {
						for _, fh := range hs {
							if e := testFree(fh); e != "" {
								return fmt.Errorf("free: %s", e)
							}
						}
					}
					for _, x := range []uint64{u, h} {
						if e := testFree(x); e != "" {
							return fmt.Errorf("free: %s", e)
						}
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := testLiveHandles(); n != start {
		t.Fatalf("live handles %d after the goroutines, want %d", n, start)
	}
}

// Walks of one module's fields, definitions included, from several
// goroutines at once see the same fields and leave no handle behind. (A walk
// finishes the vertices it reaches, and CUE v0.17 races when two goroutines
// finish the same one: the exports hold the value's context, internal/serial.)
func TestConcurrentWalksOfOneModule(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	kit := filepath.Join(root, "tests/catalogs/embedstyle")
	cfg, err := json.Marshal(map[string]any{
		"dir":  filepath.Join(kit, "large"),
		"args": []string{"module.cue"},
		"modules": map[string]any{
			"cuepy.dev/opm@v0":   map[string]string{"version": "v0.1.0", "dir": filepath.Join(root, "cuepy/catalog")},
			"example.org/kit@v0": map[string]string{"version": "v0.1.0", "dir": filepath.Join(kit, "catalog")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := newCtx(t)
	loaded, e := testLoad(ctx, string(cfg))
	if e != "" {
		t.Fatal(e)
	}
	track(t, loaded)
	// (a load walks the module for errors: a unification is not walked yet)
	module, e := testUnify([]uint64{loaded, mustCompile(t, ctx, "{}")})
	if e != "" {
		t.Fatal(e)
	}
	track(t, module)
	start := testLiveHandles()
	const goroutines = 4
	walks := make([][]string, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = walkFields(module, "", 0, &walks[g])
		}()
	}
	wg.Wait()
	for g := range goroutines {
		if errs[g] != nil {
			t.Fatal(errs[g])
		}
		if !slices.Equal(walks[g], walks[0]) || len(walks[g]) < 100 {
			t.Fatalf("walk %d saw %d fields, walk 0 %d", g, len(walks[g]), len(walks[0]))
		}
	}
	if n := testLiveHandles(); n != start {
		t.Fatalf("live handles %d after the walks, want %d", n, start)
	}
}

// walkFields appends the path and labels of every struct below v (at path),
// definitions and optional fields included, to 12 levels.
func walkFields(v uint64, path string, depth int, seen *[]string) error {
	if depth > 12 {
		return nil
	}
	labels, hs, e := testFields(v, testOptDefinitions|testOptOptional)
	if e != "" {
		return nil // (not a struct)
	}
	*seen = append(*seen, path+" "+labels)
	var names []string
	if err := json.Unmarshal([]byte(labels), &names); err != nil {
		return err
	}
	var err error
	for i, h := range hs {
		if err == nil {
			err = walkFields(h, path+"."+names[i], depth+1, seen)
		}
		if e := testFree(h); e != "" && err == nil {
			err = fmt.Errorf("free: %s", e)
		}
	}
	return err
}
