package main

// Tests of the library's identity, contexts, compile, error objects, the
// handle table and memory statistics.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/runenv"
)

// The version the library reports is the one cuepy.h declares.
func TestABIVersion(t *testing.T) {
	if got := testABIVersion(); got != testABIVersionConst {
		t.Fatalf("cue_abi_version() = %d, want CUEPY_ABI_VERSION = %d", got, testABIVersionConst)
	}
	hdr, err := os.ReadFile("cuepy.h")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#define CUEPY_ABI_VERSION (\d+)\s*$`).FindSubmatch(hdr)
	if m == nil {
		t.Fatal("cuepy.h has no #define CUEPY_ABI_VERSION")
	}
	if n, _ := strconv.Atoi(string(m[1])); int32(n) != testABIVersion() {
		t.Fatalf("cuepy.h says CUEPY_ABI_VERSION %d, library says %d", n, testABIVersion())
	}
}

// Every function declared in the cdef block of cuepy.h is exported by the
// Go code (cgo checks the signatures of those that are, but a declared
// function with no //export would only fail when a C caller links).
func TestHeaderFunctionsAreExported(t *testing.T) {
	hdr, err := os.ReadFile("cuepy.h")
	if err != nil {
		t.Fatal(err)
	}
	_, cdef, ok := strings.Cut(string(hdr), "/* cdef-begin */")
	cdef, _, ok2 := strings.Cut(cdef, "/* cdef-end */")
	if !ok || !ok2 {
		t.Fatal("cuepy.h lacks the cdef markers")
	}
	decls := regexp.MustCompile(`(?m)^[a-z_0-9 ]+[ *](cue_[a-z_]+)\(`).FindAllStringSubmatch(cdef, -1)
	if len(decls) < 20 {
		t.Fatalf("found only %d function declarations in cuepy.h", len(decls))
	}
	var src strings.Builder
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			data, err := os.ReadFile(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			src.Write(data)
		}
	}
	for _, d := range decls {
		if !strings.Contains(src.String(), "//export "+d[1]+"\n") {
			t.Errorf("cuepy.h declares %s but no Go function is exported under that name", d[1])
		}
	}
}

// The kind bits of cuepy.h are distinct single bits. (They are not all
// CUE's own values, though the header says so: CUE_KIND_STRUCT is 64 where
// cue.StructKind is 256; cue_kind translates, see TestKind.)
func TestKindBits(t *testing.T) {
	all := []uint32{testKindNull, testKindBool, testKindInt, testKindFloat,
		testKindString, testKindBytes, testKindStruct, testKindList}
	var seen uint32
	for _, b := range all {
		if b == 0 || b&(b-1) != 0 || seen&b != 0 {
			t.Fatalf("kind bit %d is not a new single bit (seen %b)", b, seen)
		}
		seen |= b
	}
	for _, c := range []struct {
		c uint32
		k cue.Kind
	}{
		{testKindNull, cue.NullKind}, {testKindBool, cue.BoolKind},
		{testKindInt, cue.IntKind}, {testKindFloat, cue.FloatKind},
		{testKindString, cue.StringKind}, {testKindBytes, cue.BytesKind},
		{testKindStruct, cue.StructKind}, {testKindList, cue.ListKind},
	} {
		if got := uint32(kindOf(c.k)); got != c.c {
			t.Errorf("kindOf(%v) = %d, want %d", c.k, got, c.c)
		}
	}
	if got := uint32(kindOf(cue.NumberKind)); got != testKindInt|testKindFloat {
		t.Errorf("kindOf(number) = %d", got)
	}
	if got := uint32(kindOf(cue.BottomKind)); got != 0 {
		t.Errorf("kindOf(bottom) = %d", got)
	}
}

func TestVersion(t *testing.T) {
	if got := testVersion(); got != "v0.17.1" {
		t.Fatalf("cue_version() = %q, want v0.17.1", got)
	}
}

func TestContextNew(t *testing.T) {
	start := testLiveHandles()
	a, e := testContextNew()
	noErr(t, e)
	b, e := testContextNew()
	noErr(t, e)
	if a == 0 || b == 0 || a == b {
		t.Fatalf("context handles %d and %d: want two distinct non-zero handles", a, b)
	}
	if n := testLiveHandles(); n != start+2 {
		t.Fatalf("live handles = %d after two contexts, want %d", n, start+2)
	}
	// Both contexts work on their own.
	for _, ctx := range []uint64{a, b} {
		v, e := testCompile(ctx, "x: 1", "")
		noErr(t, e)
		if got := decodeJSON(t, v); got != `{"x":1}` {
			t.Fatalf("decode = %s", got)
		}
		noErr(t, testFree(v))
	}
	noErr(t, testFree(a))
	noErr(t, testFree(b))
	if n := testLiveHandles(); n != start {
		t.Fatalf("live handles = %d after freeing, want %d", n, start)
	}
}

func TestCompileOK(t *testing.T) {
	ctx := newCtx(t)
	v, e := testCompile(ctx, "a: 1\nb: \"x\"\nc: a + 1\n", "ok.cue")
	noErr(t, e)
	track(t, v)
	if got := decodeJSON(t, v); got != `{"a":1,"b":"x","c":2}` {
		t.Fatalf("decode = %s", got)
	}
	// The source is passed with its length: only the first n bytes count.
	src := "a: 1\nb: 2"
	v2, e := testCompile(ctx, src[:4], "")
	noErr(t, e)
	track(t, v2)
	if got := decodeJSON(t, v2); got != `{"a":1}` {
		t.Fatalf("decode of a prefix = %s", got)
	}
}

func TestCompileSyntaxError(t *testing.T) {
	ctx := newCtx(t)
	v, e := testCompile(ctx, "a: 1\nb: {", "x.cue")
	if v != 0 {
		t.Fatalf("failed compile returned handle %d", v)
	}
	err := wantErr(t, e, "syntax")
	want := errPos{File: "x.cue", Line: 2, Column: 5}
	if len(err.Errors) != 1 || len(err.Errors[0].Positions) != 1 || err.Errors[0].Positions[0] != want {
		t.Fatalf("want one error at %v, got %+v", want, err.Errors)
	}
	if !strings.Contains(err.Errors[0].Message, "expected '}'") || !strings.Contains(err.Text, "x.cue:2:5") {
		t.Fatalf("unexpected message/text: %+v", err)
	}

	// Without a file name, positions name "<source>".
	_, e = testCompile(ctx, "a: ]", "")
	err = wantErr(t, e, "syntax")
	if got := err.Errors[0].Positions; len(got) == 0 || got[0] != (errPos{"<source>", 1, 4}) {
		t.Fatalf("positions = %v, want <source>:1:4", got)
	}
}

func TestCompileEvalConflict(t *testing.T) {
	ctx := newCtx(t)
	for _, c := range []struct {
		src        string
		positions  []errPos
		messageHas string
	}{
		{"a: 1\na: 2\n", []errPos{{"x.cue", 1, 4}, {"x.cue", 2, 4}}, "conflicting values 2 and 1"},
		{"ok: true\nb: c: 1 & 2\n", []errPos{{"x.cue", 2, 7}, {"x.cue", 2, 11}}, "conflicting values 2 and 1"},
	} {
		v, e := testCompile(ctx, c.src, "x.cue")
		if v != 0 {
			t.Fatalf("%q: failed compile returned handle %d", c.src, v)
		}
		err := wantErr(t, e, "eval")
		if len(err.Errors) != 1 {
			t.Fatalf("%q: want one error, got %+v", c.src, err.Errors)
		}
		item := err.Errors[0]
		if !strings.Contains(item.Message, c.messageHas) {
			t.Errorf("%q: message %q", c.src, item.Message)
		}
		wantPath := []string{"a"}
		if strings.HasPrefix(c.src, "ok") {
			wantPath = []string{"b", "c"}
		}
		if fmt.Sprint(item.Path) != fmt.Sprint(wantPath) {
			t.Errorf("%q: path %v, want %v", c.src, item.Path, wantPath)
		}
		if len(item.Positions) != 2 {
			t.Fatalf("%q: want two positions, got %v", c.src, item.Positions)
		}
		for _, p := range c.positions {
			if !err.hasPos(p) {
				t.Errorf("%q: position %v missing from %v", c.src, p, item.Positions)
			}
		}
	}
}

// The error JSON always has the three keys, and arrays (never null) for
// path and positions.
func TestErrorJSONShape(t *testing.T) {
	ctx := newCtx(t)
	_, e := testCompile(ctx, "a: ]", "")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"category", "text", "errors"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("error JSON lacks %q: %s", k, e)
		}
	}
	if !strings.Contains(e, `"path":[]`) {
		t.Errorf("a syntax error has path [] (not null): %s", e)
	}
	_, e = testLookup(ctx, "a") // a usage error has no position
	if !strings.Contains(e, `"positions":[]`) || !strings.Contains(e, `"path":[]`) {
		t.Errorf("a usage error has positions [] and path []: %s", e)
	}
}

// Error handles: taken once, then gone; a non-error handle given to
// cue_error_take is reported, and not freed.
func TestErrorHandles(t *testing.T) {
	ctx := newCtx(t)
	start := testLiveHandles()
	v, errh := testCompileRaw(ctx, "a: ]")
	if v != 0 || errh == 0 {
		t.Fatalf("compile of bad source: value %d, error %d", v, errh)
	}
	if n := testLiveHandles(); n != start+1 {
		t.Fatalf("an error handle is a live handle: %d, want %d", n, start+1)
	}
	// An error handle is not a value.
	_, e := testLookup(errh, "a")
	wantUsage(t, e, "is of kind error, not value")
	// Taking frees it: a second take reports a usage error.
	wantErr(t, testErrorTake(errh), "syntax")
	if n := testLiveHandles(); n != start {
		t.Fatalf("live handles = %d after taking the error, want %d", n, start)
	}
	wantUsage(t, testErrorTake(errh), "invalid or already freed handle")
	// An error can also be dropped with cue_handle_free.
	_, errh = testCompileRaw(ctx, "a: ]")
	noErr(t, testFree(errh))
	wantUsage(t, testErrorTake(errh), "invalid or already freed handle")

	// A value handle given to cue_error_take: a usage error, and the value
	// stays usable.
	val := mustCompile(t, ctx, "a: 1")
	wantUsage(t, testErrorTake(val), "is of kind value, not error")
	if got := decodeJSON(t, val); got != `{"a":1}` {
		t.Fatalf("value damaged by cue_error_take: %s", got)
	}
	wantUsage(t, testErrorTake(0), "null error handle")
}

// Handles of the wrong kind, freed handles, double frees, handles never
// issued and handle 0 are usage errors, never crashes.
func TestHandleMisuse(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "a: 1")

	// A value handle passed as a context, and the reverse.
	out, e := testCompile(v, "x: 1", "")
	if out != 0 {
		t.Fatalf("compile with a value as context returned %d", out)
	}
	wantUsage(t, e, fmt.Sprintf("handle %d is of kind value, not context", v))
	_, e = testLookup(ctx, "a")
	wantUsage(t, e, fmt.Sprintf("handle %d is of kind context, not value", ctx))
	_, e = testLoad(v, `{}`)
	wantUsage(t, e, "not context")
	_, _, _, e = testKind(ctx)
	wantUsage(t, e, "not value")

	// A freed handle used again, and freed again.
	w, e := testCompile(ctx, "b: 2", "")
	noErr(t, e)
	noErr(t, testFree(w))
	_, e = testLookup(w, "b")
	wantUsage(t, e, fmt.Sprintf("invalid or already freed handle %d", w))
	_, _, e = testDecode(w)
	wantUsage(t, e, "invalid or already freed handle")
	_, e = testUnify([]uint64{v, w})
	wantUsage(t, e, "invalid or already freed handle")
	before := testLiveHandles()
	wantUsage(t, testFree(w), fmt.Sprintf("invalid or already freed handle %d", w))
	if n := testLiveHandles(); n != before {
		t.Fatalf("a double free changed the live count: %d -> %d", before, n)
	}

	// A handle never issued.
	const bogus = uint64(1) << 50
	_, e = testLookup(bogus, "a")
	wantUsage(t, e, "invalid or already freed handle")
	wantUsage(t, testFree(bogus), "invalid or already freed handle")

	// Handle 0: freeing it is a no-op; using it is a usage error.
	noErr(t, testFree(0))
	_, e = testLookup(0, "a")
	wantUsage(t, e, "null value handle")
	_, e = testCompile(0, "a: 1", "")
	wantUsage(t, e, "null context handle")
	_, e = testFill(v, "a", 0)
	wantUsage(t, e, "null value handle")
	_, e = testExport(0, testFormatJSON, 0)
	wantUsage(t, e, "null value handle")

	// After all that, the good handles still work.
	if got := decodeJSON(t, v); got != `{"a":1}` {
		t.Fatalf("decode = %s", got)
	}
}

// Every kind of handle the library hands out counts as live until freed.
func TestLiveHandlesReturnToStart(t *testing.T) {
	start := testLiveHandles()
	var hs []uint64
	add := func(h uint64, e string) uint64 {
		t.Helper()
		noErr(t, e)
		hs = append(hs, h)
		return h
	}
	ctx := add(testContextNew())
	v := add(testCompile(ctx, "a: {b: 1, c: [1, 2]}\nd: *1 | int\n#D: {}\n", ""))
	add(testLookup(v, "a.b"))
	labels, fs, e := testFields(v, testOptDefinitions)
	noErr(t, e)
	if !strings.Contains(labels, `"a"`) || len(fs) != 3 {
		t.Fatalf("fields: %s %v", labels, fs)
	}
	hs = append(hs, fs...)
	c := add(testLookup(v, "a.c"))
	els, e := testElements(c)
	noErr(t, e)
	hs = append(hs, els...)
	d := add(testLookup(v, "d"))
	def, _, e := testDefault(d)
	add(def, e)
	add(testUnify([]uint64{v}))
	add(testFill(v, "z", d))
	if got, want := testLiveHandles(), start+int64(len(hs)); got != want {
		t.Fatalf("live handles = %d with %d handles out, want %d", got, len(hs), want)
	}
	// Errors are handles too, until taken.
	_, errh := testCompileRaw(ctx, "a: ]")
	if got := testLiveHandles(); got != start+int64(len(hs))+1 {
		t.Fatalf("live handles = %d with an error out", got)
	}
	testErrorTake(errh)
	for i := len(hs) - 1; i >= 0; i-- {
		noErr(t, testFree(hs[i]))
	}
	if got := testLiveHandles(); got != start {
		t.Fatalf("live handles = %d after freeing everything, want %d", got, start)
	}
}

func TestMemstats(t *testing.T) {
	m1 := testReadMemstats()
	if m1.TotalBytes == 0 || m1.HeapBytes == 0 || m1.AllocBytes == 0 || m1.AllocObjects == 0 {
		t.Fatalf("memstats has zero counters: %+v", m1)
	}
	if m1.AllocBytes < m1.HeapBytes {
		t.Fatalf("cumulative allocation %d below live heap %d", m1.AllocBytes, m1.HeapBytes)
	}
	// Allocate: compile and decode a value of a few thousand fields.
	ctx := newCtx(t)
	var src strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&src, "f%d: {n: %d, s: \"value %d\"}\n", i, i, i)
	}
	v := mustCompile(t, ctx, src.String())
	data := decodeJSON(t, v)
	m2 := testReadMemstats()
	if m2.AllocBytes <= m1.AllocBytes+uint64(len(data)) {
		t.Fatalf("alloc_bytes went from %d to %d after allocating", m1.AllocBytes, m2.AllocBytes)
	}
	if m2.AllocObjects <= m1.AllocObjects+3000 {
		t.Fatalf("alloc_objects went from %d to %d after allocating", m1.AllocObjects, m2.AllocObjects)
	}
	testGC()
	m3 := testReadMemstats()
	if m3.GCCycles <= m2.GCCycles {
		t.Fatalf("gc_cycles went from %d to %d across cue_gc", m2.GCCycles, m3.GCCycles)
	}
}

func TestSetGCPercent(t *testing.T) {
	// The test binary's environment may set GOGC; libcuepy's default applies otherwise.
	want := int32(runenv.DefaultGCPercent)
	if v, ok := os.LookupEnv("GOGC"); ok {
		want = 100 // what Go makes of a value it cannot read
		if n, err := strconv.Atoi(v); err == nil {
			want = int32(n)
		} else if v == "off" {
			want = -1
		}
	}
	if got := testSetGCPercent(250); got != want {
		t.Fatalf("initial GC percent %d, want %d", got, want)
	}
	if got := testSetGCPercent(-1); got != 250 {
		t.Fatalf("previous GC percent %d, want 250", got)
	}
	if got := testSetGCPercent(want); got != -1 {
		t.Fatalf("previous GC percent %d, want -1 (off)", got)
	}
}
