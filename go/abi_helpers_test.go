package main

// Shared helpers for the tests of the C ABI. The tests call the exports
// through the wrappers in abi_testing.go, exactly as a C caller would: every
// handle they create is freed (most through t.Cleanup), and TestMain checks
// that no handle is left alive once all tests have run.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	start := testLiveHandles()
	code := m.Run()
	if code == 0 {
		if n := testLiveHandles(); n != start {
			fmt.Fprintf(os.Stderr, "FAIL: %d handles still alive after all tests (started with %d)\n", n, start)
			code = 1
		}
	}
	os.Exit(code)
}

// cueErr is the JSON that cue_error_take produces.
type cueErr struct {
	Category string    `json:"category"`
	Text     string    `json:"text"`
	Errors   []errItem `json:"errors"`
}

type errItem struct {
	Message   string   `json:"message"`
	Path      []string `json:"path"`
	Positions []errPos `json:"positions"`
}

type errPos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p errPos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// wantErr parses errJSON and checks its category and overall shape.
func wantErr(t *testing.T, errJSON, category string) cueErr {
	t.Helper()
	if errJSON == "" {
		t.Fatalf("want a %q error, got success", category)
	}
	var e cueErr
	if err := json.Unmarshal([]byte(errJSON), &e); err != nil {
		t.Fatalf("error JSON %q does not parse: %v", errJSON, err)
	}
	if e.Category != category {
		t.Fatalf("category = %q, want %q; error: %s", e.Category, category, errJSON)
	}
	if e.Text == "" || len(e.Errors) == 0 {
		t.Fatalf("error without text or items: %s", errJSON)
	}
	for _, it := range e.Errors {
		if it.Path == nil || it.Positions == nil {
			t.Fatalf("error item with null path or positions: %s", errJSON)
		}
	}
	return e
}

// wantUsage checks a usage error whose text mentions want.
func wantUsage(t *testing.T, errJSON, want string) cueErr {
	t.Helper()
	e := wantErr(t, errJSON, "usage")
	if !strings.Contains(e.Text, want) {
		t.Fatalf("usage error text %q does not mention %q", e.Text, want)
	}
	checkGoErrorMessage(t, e)
	return e
}

// checkGoErrorMessage checks the one item of an error that came from a plain
// Go error (usage errors, some load errors): its message is the error text.
func checkGoErrorMessage(t *testing.T, e cueErr) {
	t.Helper()
	if len(e.Errors) != 1 {
		t.Fatalf("want one error item, got %d: %+v", len(e.Errors), e)
	}
	msg := e.Errors[0].Message
	if msg == "" || !strings.Contains(e.Text, msg) {
		t.Fatalf("message %q is empty or not part of text %q", msg, e.Text)
	}
}

// hasPos reports whether e holds a position equal to want.
func (e cueErr) hasPos(want errPos) bool {
	for _, it := range e.Errors {
		if slices.Contains(it.Positions, want) {
			return true
		}
	}
	return false
}

func noErr(t *testing.T, errJSON string) {
	t.Helper()
	if errJSON != "" {
		t.Fatalf("unexpected error: %s", errJSON)
	}
}

// track frees h when the test ends, and fails the test if that fails.
func track(t *testing.T, h uint64) uint64 {
	t.Helper()
	if h == 0 {
		t.Fatalf("track: null handle")
	}
	t.Cleanup(func() {
		if e := testFree(h); e != "" {
			t.Errorf("freeing handle %d: %s", h, e)
		}
	})
	return h
}

func trackAll(t *testing.T, hs []uint64) []uint64 {
	t.Helper()
	for _, h := range hs {
		track(t, h)
	}
	return hs
}

func newCtx(t *testing.T) uint64 {
	t.Helper()
	ctx, e := testContextNew()
	noErr(t, e)
	return track(t, ctx)
}

func mustCompile(t *testing.T, ctx uint64, src string) uint64 {
	t.Helper()
	v, e := testCompile(ctx, src, "test.cue")
	noErr(t, e)
	return track(t, v)
}

func mustLookup(t *testing.T, v uint64, path string) uint64 {
	t.Helper()
	h, e := testLookup(v, path)
	noErr(t, e)
	if h == 0 {
		t.Fatalf("lookup %q: no such field", path)
	}
	return track(t, h)
}

// decodeAs decodes v and checks the flags.
func decodeAs(t *testing.T, v uint64, flags uint32) string {
	t.Helper()
	data, got, e := testDecode(v)
	noErr(t, e)
	if got != flags {
		t.Fatalf("decode flags = %d, want %d (data %q)", got, flags, data)
	}
	return data
}

// decodeJSON decodes v, which must come back as plain JSON, and returns the
// text.
func decodeJSON(t *testing.T, v uint64) string {
	t.Helper()
	data := decodeAs(t, v, testDecodedJSON)
	if !json.Valid([]byte(data)) {
		t.Fatalf("decode returned invalid JSON %q", data)
	}
	return data
}

// writeTree writes files (relative path to content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writableTempDir is t.TempDir for directories the library may fill with
// read-only entries (the CUE module cache), which it makes writable again
// so that the directory can be removed.
func writableTempDir(t *testing.T) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(path, 0o755)
			}
			return nil
		})
	})
	return dir
}

// loadConfigJSON marshals a cue_load configuration.
func loadConfigJSON(t *testing.T, cfg map[string]any) string {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustLoad(t *testing.T, ctx uint64, cfg map[string]any) uint64 {
	t.Helper()
	v, e := testLoad(ctx, loadConfigJSON(t, cfg))
	noErr(t, e)
	return track(t, v)
}

func loadErr(t *testing.T, ctx uint64, cfg map[string]any) string {
	t.Helper()
	v, e := testLoad(ctx, loadConfigJSON(t, cfg))
	if e == "" {
		track(t, v)
		t.Fatalf("load succeeded, want an error")
	}
	if v != 0 {
		t.Errorf("failed load also returned handle %d", v)
	}
	return e
}

// jsonEqual compares two JSON texts as data (field order aside).
func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
