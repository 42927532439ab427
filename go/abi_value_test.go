package main

// Tests of reading and combining values: lookup, fields, elements, kind,
// default, decode, export, validate, unify, fill and source.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "a: b: {c: \"hello\", d: 42}\n\"q-x\": 1\n#D: {x: 1}\nl: [10, 20]\n")

	for path, want := range map[string]string{
		"a.b.c":   "hello",
		`"q-x"`:   "1",
		"#D.x":    "1",
		"l[1]":    "20",
		"a.b.d":   "42",
		"a . b.c": "hello", // CUE path syntax allows spaces
	} {
		h := mustLookup(t, v, path)
		data, _, e := testDecode(h)
		noErr(t, e)
		if data != want {
			t.Errorf("lookup %q decodes to %q, want %q", path, data, want)
		}
	}
	// A path looked up twice (the second time from the path cache) gives the
	// same value, in a new handle.
	h1, h2 := mustLookup(t, v, "a.b"), mustLookup(t, v, "a.b")
	if h1 == h2 || decodeJSON(t, h1) != decodeJSON(t, h2) {
		t.Fatalf("two lookups of a.b: handles %d, %d", h1, h2)
	}

	// Missing fields: no error, and *out is set to 0.
	for _, path := range []string{"zz", "a.zz", "a.b.c.d", "l[5]"} {
		h, e := testLookup(v, path)
		noErr(t, e)
		if h != 0 {
			track(t, h)
			t.Errorf("lookup of missing %q returned handle %d", path, h)
		}
	}

	// Invalid paths are usage errors, each time (errors are not cached).
	for _, path := range []string{"a.", "a..b", "[", "a b"} {
		for range 2 {
			h, e := testLookup(v, path)
			if h != 0 {
				t.Fatalf("invalid path %q returned handle %d", path, h)
			}
			wantUsage(t, e, "invalid path")
		}
	}
}

func TestFields(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "a: 1\n#D: {x: int}\n_h: 3\no?: int\n\"q-x\": \"s\"\n")
	for _, c := range []struct {
		opts   uint32
		labels []string
	}{
		{0, []string{"a", "q-x"}},
		{testOptDefinitions, []string{"a", "#D", "q-x"}},
		{testOptHidden, []string{"a", "_h", "q-x"}},
		{testOptOptional, []string{"a", "o", "q-x"}},
		{testOptDefinitions | testOptHidden | testOptOptional, []string{"a", "#D", "_h", "o", "q-x"}},
	} {
		labelsJSON, hs, e := testFields(v, c.opts)
		noErr(t, e)
		trackAll(t, hs)
		var labels []string
		if err := json.Unmarshal([]byte(labelsJSON), &labels); err != nil {
			t.Fatalf("labels %q: %v", labelsJSON, err)
		}
		if fmt.Sprint(labels) != fmt.Sprint(c.labels) {
			t.Errorf("opts %d: labels %v, want %v", c.opts, labels, c.labels)
		}
		if len(hs) != len(labels) {
			t.Fatalf("opts %d: %d handles for %d labels", c.opts, len(hs), len(labels))
		}
		// Each handle is the value of its field.
		for i, l := range labels {
			kind, ik, concrete, e := testKind(hs[i])
			noErr(t, e)
			switch l {
			case "a", "_h":
				if kind != testKindInt || !concrete {
					t.Errorf("field %s: kind %d concrete %v", l, kind, concrete)
				}
			case "q-x":
				if d := decodeAs(t, hs[i], testDecodedString); d != "s" {
					t.Errorf("field q-x decodes to %q", d)
				}
			case "#D":
				if kind != testKindStruct {
					t.Errorf("field #D: kind %d", kind)
				}
			case "o":
				if kind != 0 || ik != testKindInt || concrete {
					t.Errorf("field o: kind %d/%d concrete %v", kind, ik, concrete)
				}
			}
		}
	}

	// Fields of an empty struct: [] and no handles.
	empty := mustCompile(t, ctx, "{}")
	labelsJSON, hs, e := testFields(empty, 0)
	noErr(t, e)
	if labelsJSON != "[]" || len(hs) != 0 {
		t.Fatalf("fields of {}: %s, %v", labelsJSON, hs)
	}
	// Fields of a non-struct: an eval error, no handles leak.
	before := testLiveHandles()
	_, _, e = testFields(mustLookup(t, v, "a"), 0)
	wantErr(t, e, "eval")
	if n := testLiveHandles(); n != before+1 { // +1: the lookup
		t.Fatalf("live handles %d -> %d", before, n)
	}
}

func TestElements(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "l: [1, \"two\", {x: 3}, [4]]\ne: []\ns: {a: 1}\n")
	hs, e := testElements(mustLookup(t, v, "l"))
	noErr(t, e)
	trackAll(t, hs)
	if len(hs) != 4 {
		t.Fatalf("4 elements, got %d handles", len(hs))
	}
	if d := decodeAs(t, hs[0], testDecodedInt); d != "1" {
		t.Errorf("element 0: %q", d)
	}
	if d := decodeAs(t, hs[1], testDecodedString); d != "two" {
		t.Errorf("element 1: %q", d)
	}
	if d := decodeJSON(t, hs[2]); d != `{"x":3}` {
		t.Errorf("element 2: %q", d)
	}
	if d := decodeJSON(t, hs[3]); d != `[4]` {
		t.Errorf("element 3: %q", d)
	}
	hs, e = testElements(mustLookup(t, v, "e"))
	noErr(t, e)
	if len(hs) != 0 {
		t.Fatalf("elements of []: %v", hs)
	}
	_, e = testElements(mustLookup(t, v, "s"))
	wantErr(t, e, "eval")
}

func TestKind(t *testing.T) {
	ctx := newCtx(t)
	for _, c := range []struct {
		src            string
		kind, ik       uint32
		concrete       bool
		hasDefault     bool
		defaultDecoded string
	}{
		{src: "int", kind: 0, ik: testKindInt},
		{src: "5", kind: testKindInt, ik: testKindInt, concrete: true},
		{src: "{}", kind: testKindStruct, ik: testKindStruct, concrete: true},
		{src: "[]", kind: testKindList, ik: testKindList, concrete: true},
		{src: "null", kind: testKindNull, ik: testKindNull, concrete: true},
		{src: "true", kind: testKindBool, ik: testKindBool, concrete: true},
		{src: "1.5", kind: testKindFloat, ik: testKindFloat, concrete: true},
		{src: `"s"`, kind: testKindString, ik: testKindString, concrete: true},
		{src: `'b'`, kind: testKindBytes, ik: testKindBytes, concrete: true},
		{src: "number", kind: 0, ik: testKindInt | testKindFloat},
		{src: "int | string", kind: 0, ik: testKindInt | testKindString},
		{src: "{a: int}", kind: testKindStruct, ik: testKindStruct, concrete: true},
		// A disjunction with a default is not concrete itself; its default is.
		{src: "*1 | int", kind: 0, ik: testKindInt, hasDefault: true, defaultDecoded: "1"},
		{src: `*"x" | "y"`, kind: 0, ik: testKindString, hasDefault: true, defaultDecoded: "x"},
	} {
		v := mustCompile(t, ctx, c.src)
		kind, ik, concrete, e := testKind(v)
		noErr(t, e)
		if kind != c.kind || ik != c.ik || concrete != c.concrete {
			t.Errorf("%s: kind %d, incomplete kind %d, concrete %v; want %d, %d, %v",
				c.src, kind, ik, concrete, c.kind, c.ik, c.concrete)
		}
		d, has, e := testDefault(v)
		noErr(t, e)
		track(t, d)
		if has != c.hasDefault {
			t.Errorf("%s: has_default %v", c.src, has)
		}
		if has {
			data, _, e := testDecode(d)
			noErr(t, e)
			if data != c.defaultDecoded {
				t.Errorf("%s: default decodes to %q", c.src, data)
			}
			if _, _, concrete, _ := testKind(d); !concrete {
				t.Errorf("%s: default not concrete", c.src)
			}
		}
	}
}

func TestDefault(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "*1 | int")
	d, has, e := testDefault(v)
	noErr(t, e)
	track(t, d)
	if !has || d == 0 || d == v {
		t.Fatalf("default of *1 | int: handle %d, has %v", d, has)
	}
	if got := decodeAs(t, d, testDecodedInt); got != "1" {
		t.Fatalf("default decodes to %q", got)
	}
	if k, _, c, _ := testKind(d); k != testKindInt || !c {
		t.Fatalf("default kind %d concrete %v", k, c)
	}
	// No default: has_default 0, and the value itself, in a new handle.
	w := mustCompile(t, ctx, "int")
	d, has, e = testDefault(w)
	noErr(t, e)
	track(t, d)
	if has || d == 0 || d == w {
		t.Fatalf("default of int: handle %d, has %v", d, has)
	}
	_, _, e = testDecode(d)
	wantErr(t, e, "incomplete")
}

func TestDecodeScalars(t *testing.T) {
	ctx := newCtx(t)
	bigInt, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	for _, c := range []struct {
		src   string
		flags uint32
		want  string
	}{
		{`"héllo\nworld"`, testDecodedString, "héllo\nworld"},
		{`"a\u0000b"`, testDecodedString, "a\x00b"}, // length, not NUL, ends it
		{`""`, testDecodedString, ""},
		{`*"d" | string`, testDecodedString, "d"},
		{"42", testDecodedInt, "42"},
		{"-7", testDecodedInt, "-7"},
		{"9223372036854775807", testDecodedInt, "9223372036854775807"},
		{"9223372036854775808", testDecodedInt, "9223372036854775808"},
		{"-9223372036854775809", testDecodedInt, "-9223372036854775809"},
		{bigInt.String(), testDecodedInt, bigInt.String()},
		{"1_000_000", testDecodedInt, "1000000"},
		{"0x10", testDecodedInt, "16"},
		{"*1 | int", testDecodedInt, "1"},
		{`'\x00\xffab'`, testDecodedBytes, "\x00\xffab"},
		{`''`, testDecodedBytes, ""},
		{"true", testDecodedJSON, "true"},
		{"null", testDecodedJSON, "null"},
		{"1.5", testDecodedJSON, "1.5"},
		{"2.0", testDecodedJSON, "2.0"},
		{"-0.25", testDecodedJSON, "-0.25"},
	} {
		v := mustCompile(t, ctx, c.src)
		if got := decodeAs(t, v, c.flags); got != c.want {
			t.Errorf("decode %s = %q, want %q", c.src, got, c.want)
		}
	}
	// A float written with an exponent comes back as a JSON number that
	// still reads as a float.
	v := mustCompile(t, ctx, "1e3")
	got := decodeJSON(t, v)
	if !strings.ContainsAny(got, ".eE") {
		t.Fatalf("decode 1e3 = %q: not a float in JSON", got)
	}
	var f float64
	if err := json.Unmarshal([]byte(got), &f); err != nil || f != 1000 {
		t.Fatalf("decode 1e3 = %q = %v, %v", got, f, err)
	}
	// A big integer computed by CUE (34-digit arithmetic) is spelled out.
	v = mustCompile(t, ctx, "x: 1000000000000000000000000 * 1000000000000000000000000 * 1000000000000000000000000")
	if got := decodeAs(t, mustLookup(t, v, "x"), testDecodedInt); got != "1"+strings.Repeat("0", 72) {
		t.Fatalf("decode of 10^72 = %q", got)
	}
}

func TestDecodeStructsAndLists(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, `
a: 1
b: "x\"y"
c: [1, 2.5, null, true, "s"]
d: e: 123456789012345678901234567890
"q-x": -1
n: *3 | int
#D: {x: 1}
_h: 1
o?: int
`)
	want := `{"a":1,"b":"x\"y","c":[1,2.5,null,true,"s"],"d":{"e":123456789012345678901234567890},"q-x":-1,"n":3}`
	if got := decodeJSON(t, v); got != want {
		t.Fatalf("decode =\n%s\nwant\n%s", got, want)
	}
	l := mustCompile(t, ctx, `[1, "a", [], {}]`)
	if got := decodeJSON(t, l); got != `[1,"a",[],{}]` {
		t.Fatalf("decode list = %s", got)
	}
	// Bytes inside a structure: JSON with the NUL-keyed objects, and the flag
	// that says so.
	b := mustCompile(t, ctx, `{b: 'hi', l: ['\x00\xff'], s: "str"}`)
	data := decodeAs(t, b, testDecodedJSONBytes)
	var got struct {
		B map[string]string   `json:"b"`
		L []map[string]string `json:"l"`
		S string              `json:"s"`
	}
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatalf("decode with bytes = %q: %v", data, err)
	}
	if dec, _ := base64.StdEncoding.DecodeString(got.B["\x00bytes"]); string(dec) != "hi" {
		t.Errorf("b = %v", got.B)
	}
	if dec, _ := base64.StdEncoding.DecodeString(got.L[0]["\x00bytes"]); string(dec) != "\x00\xff" {
		t.Errorf("l = %v", got.L)
	}
	if got.S != "str" {
		t.Errorf("s = %q", got.S)
	}
}

func TestDecodeIncomplete(t *testing.T) {
	ctx := newCtx(t)
	for _, c := range []struct {
		src  string
		path []string
		pos  errPos
	}{
		{"int", []string{}, errPos{"test.cue", 1, 1}},
		{"a: 1\nb: {c: string}\n", []string{"b", "c"}, errPos{"test.cue", 2, 8}},
		{"l: [1, int]\n", []string{"l", "1"}, errPos{"test.cue", 1, 8}},
		{"int | string", []string{}, errPos{}},
	} {
		v := mustCompile(t, ctx, c.src)
		data, _, e := testDecode(v)
		if data != "" {
			t.Errorf("%q: decode returned data %q with an error", c.src, data)
		}
		err := wantErr(t, e, "incomplete")
		if fmt.Sprint(err.Errors[0].Path) != fmt.Sprint(c.path) {
			t.Errorf("%q: path %v, want %v", c.src, err.Errors[0].Path, c.path)
		}
		if c.pos != (errPos{}) && !err.hasPos(c.pos) {
			t.Errorf("%q: position %v missing: %+v", c.src, c.pos, err.Errors)
		}
	}
}

func TestExport(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, `a: *1 | int
b: [1, 2]
#D: {x: int}
_h: 2
// doc of c
c: "s" @attr(x)
o?: int
d: 1.5
`)
	for _, c := range []struct {
		format int32
		opts   uint32
		want   string
	}{
		{testFormatJSON, 0, `{"a":1,"b":[1,2],"c":"s","d":1.5}`},
		{testFormatJSON, testOptIndent, "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": \"s\",\n  \"d\": 1.5\n}\n"},
		{testFormatYAML, 0, "a: 1\nb:\n  - 1\n  - 2\nc: s\nd: 1.5\n"},
		{testFormatCUE, 0, "a: *1 | int\nb: [1, 2]\nc: \"s\"\nd: 1.5\n"},
		{testFormatCUE, testOptFinal, "a: 1\nb: [1, 2]\nc: \"s\"\nd: 1.5\n"},
		{testFormatCUE, testOptFinal | testOptConcrete, "a: 1\nb: [1, 2]\nc: \"s\"\nd: 1.5\n"},
	} {
		got, e := testExport(v, c.format, c.opts)
		noErr(t, e)
		if got != c.want {
			t.Errorf("export format %d opts %d =\n%q\nwant\n%q", c.format, c.opts, got, c.want)
		}
	}
	// The switches for definitions, hidden and optional fields, docs and
	// attributes in CUE output.
	all := testOptDefinitions | testOptHidden | testOptOptional | testOptDocs | testOptAttributes
	got, e := testExport(v, testFormatCUE, all)
	noErr(t, e)
	for _, want := range []string{"#D: {", "x: int", "_h: 2", "// doc of c", "@attr(x)", "o?: int", "a: *1 | int"} {
		if !strings.Contains(got, want) {
			t.Errorf("export with all switches lacks %q:\n%s", want, got)
		}
	}
	for _, opt := range []struct {
		bit     uint32
		missing string
	}{
		{testOptDefinitions, "#D"}, {testOptHidden, "_h"}, {testOptOptional, "o?"},
		{testOptDocs, "// doc"}, {testOptAttributes, "@attr"},
	} {
		got, e := testExport(v, testFormatCUE, all&^opt.bit)
		noErr(t, e)
		if strings.Contains(got, opt.missing) {
			t.Errorf("export without option %d still has %q:\n%s", opt.bit, opt.missing, got)
		}
	}
	// A scalar exports as itself.
	five := mustCompile(t, ctx, "5")
	for format, want := range map[int32]string{testFormatJSON: "5", testFormatYAML: "5\n", testFormatCUE: "5\n"} {
		got, e := testExport(five, format, 0)
		noErr(t, e)
		if got != want {
			t.Errorf("export 5 in format %d = %q", format, got)
		}
	}
}

func TestExportErrors(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "a: int\nb: 1\n")
	for _, c := range []struct {
		format int32
		opts   uint32
	}{
		{testFormatJSON, 0}, {testFormatYAML, 0}, {testFormatCUE, testOptConcrete},
	} {
		got, e := testExport(v, c.format, c.opts)
		err := wantErr(t, e, "incomplete")
		// The YAML encoder's error names neither path nor position ("yaml:
		// unsupported node int"), so only JSON and CUE are checked for "a:".
		if got != "" || (c.format != testFormatYAML && !strings.Contains(err.Text, "a:")) {
			t.Errorf("export format %d of an incomplete value: %q, %s", c.format, got, e)
		}
	}
	// Not concrete, CUE output is fine.
	got, e := testExport(v, testFormatCUE, 0)
	noErr(t, e)
	if got != "a: int\nb: 1\n" {
		t.Errorf("export CUE of an incomplete value = %q", got)
	}
	_, e = testExport(v, 7, 0)
	wantUsage(t, e, "unknown export format 7")
	_, e = testExport(v, -1, 0)
	wantUsage(t, e, "unknown export format -1")
}

// The handles on one value (cue_lookup of the empty path, as a cache hands
// out a kept module) share its export check: each exports the same data, a
// handle outlives the one it came from, and a value that fails the check
// fails it on every export, from every handle.
func TestExportFromHandlesOnOneValue(t *testing.T) {
	ctx := newCtx(t)
	v, e := testCompile(ctx, "a: 1\n#d: {x: int}\n", "test.cue") // freed below, before same
	noErr(t, e)
	same, e := testLookup(v, "")
	noErr(t, e)
	for _, h := range []uint64{v, same, same} {
		got, e := testExport(h, testFormatJSON, 0)
		noErr(t, e)
		if got != `{"a":1}` {
			t.Errorf("export JSON = %q", got)
		}
	}
	noErr(t, testFree(v))
	if got, e := testExport(same, testFormatYAML, 0); e != "" || got != "a: 1\n" {
		t.Errorf("export YAML after the first handle was freed = %q, %s", got, e)
	}
	noErr(t, testFree(same))

	bad := mustCompile(t, ctx, "a: int\n")
	again := mustLookup(t, bad, "")
	for _, h := range []uint64{bad, again, bad} {
		_, e := testExport(h, testFormatJSON, 0)
		wantErr(t, e, "incomplete")
	}
}

func TestValidate(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "a: int\nb: *1 | int\nc: string\n")
	noErr(t, testValidate(v, 0))
	noErr(t, testValidate(v, testOptFinal)) // final alone does not ask for concrete values
	for _, opts := range []uint32{testOptConcrete, testOptConcrete | testOptFinal, testOptConcrete | testOptAllErrors} {
		err := wantErr(t, testValidate(v, opts), "incomplete")
		if len(err.Errors) != 2 {
			t.Fatalf("opts %d: want errors for a and c, got %+v", opts, err.Errors)
		}
		if p := err.Errors[0]; fmt.Sprint(p.Path) != "[a]" || len(p.Positions) == 0 || p.Positions[0] != (errPos{"test.cue", 1, 4}) {
			t.Errorf("opts %d: first error %+v", opts, p)
		}
		if p := err.Errors[1]; fmt.Sprint(p.Path) != "[c]" {
			t.Errorf("opts %d: second error %+v", opts, p)
		}
	}
	// A default satisfies concreteness.
	w := mustCompile(t, ctx, "b: *1 | int\nc: \"x\"\n")
	noErr(t, testValidate(w, testOptConcrete))
	noErr(t, testValidate(w, testOptConcrete|testOptFinal))

	// An invalid (not just incomplete) value is an eval error.
	x := mustCompile(t, ctx, "a: int\n")
	bad, e := testFill(x, "a", mustCompile(t, ctx, `"s"`))
	if e == "" {
		track(t, bad)
		t.Fatalf("fill of a string into an int succeeded")
	}
	wantErr(t, e, "eval")
}

func TestUnify(t *testing.T) {
	ctx := newCtx(t)
	a := mustCompile(t, ctx, "a: int\nb: string\n")
	b := mustCompile(t, ctx, "a: 1\n")
	c := mustCompile(t, ctx, "b: \"x\"\nc: true\n")
	u, e := testUnify([]uint64{a, b, c})
	noErr(t, e)
	track(t, u)
	if got := decodeJSON(t, u); got != `{"a":1,"b":"x","c":true}` {
		t.Fatalf("unify of 3 = %s", got)
	}
	// The inputs are unchanged.
	if err := testValidate(a, testOptConcrete); err == "" {
		t.Fatalf("unify changed its first input")
	}
	// One value: itself, in a new handle.
	one, e := testUnify([]uint64{b})
	noErr(t, e)
	track(t, one)
	if one == b || decodeJSON(t, one) != `{"a":1}` {
		t.Fatalf("unify of one value: handle %d", one)
	}
	// No value: usage.
	_, e = testUnify(nil)
	wantUsage(t, e, "unify needs at least one value")
	// A context among the values: usage.
	_, e = testUnify([]uint64{a, ctx})
	wantUsage(t, e, "is of kind context, not value")

	// A conflict: eval, with both sides' positions.
	x, e := testCompile(ctx, "a: 1", "x.cue")
	noErr(t, e)
	track(t, x)
	y, e := testCompile(ctx, "a: 2", "y.cue")
	noErr(t, e)
	track(t, y)
	r, e := testUnify([]uint64{x, y})
	if r != 0 {
		t.Fatalf("conflicting unify returned %d", r)
	}
	err := wantErr(t, e, "eval")
	if fmt.Sprint(err.Errors[0].Path) != "[a]" || !err.hasPos(errPos{"x.cue", 1, 4}) || !err.hasPos(errPos{"y.cue", 1, 4}) {
		t.Fatalf("conflict error %+v", err)
	}
}

// Values from two different contexts unify: CUE interns labels
// process-wide, so this works (it is not an error), and the result outlives
// the second context's handle.
func TestUnifyAcrossContexts(t *testing.T) {
	ctx1 := newCtx(t)
	ctx2, e := testContextNew()
	noErr(t, e)
	a := mustCompile(t, ctx1, "x: 1\ny: int\n#S: {p: int}\ns: #S\n")
	b, e := testCompile(ctx2, "y: 2\nz: 3\ns: p: 4\n", "")
	noErr(t, e)
	u, e := testUnify([]uint64{a, b})
	noErr(t, e)
	track(t, u)
	f, e := testFill(a, "y", mustLookup(t, b, "y"))
	noErr(t, e)
	track(t, f)

	// The second context and its value go away; the results still work.
	noErr(t, testFree(b))
	noErr(t, testFree(ctx2))
	testGC()
	if got := decodeJSON(t, u); !jsonEqual(got, `{"x":1,"y":2,"s":{"p":4},"z":3}`) {
		t.Fatalf("cross-context unify = %s", got)
	}
	if got := decodeAs(t, mustLookup(t, f, "y"), testDecodedInt); got != "2" {
		t.Fatalf("cross-context fill: y = %s", got)
	}
	// Closedness of a definition from one context applies to data from the
	// other.
	ctx3 := newCtx(t)
	bad := mustCompile(t, ctx3, "s: q: 1\n")
	r, e := testUnify([]uint64{a, bad})
	if r != 0 {
		track(t, r)
	}
	err := wantErr(t, e, "eval")
	if !strings.Contains(err.Text, "not allowed") {
		t.Fatalf("closedness across contexts: %s", e)
	}
}

func TestFill(t *testing.T) {
	ctx := newCtx(t)
	base := mustCompile(t, ctx, "a: int\nb: {c: string}\n")
	five := mustCompile(t, ctx, "5")
	str := mustCompile(t, ctx, `"x"`)
	v1, e := testFill(base, "a", five)
	noErr(t, e)
	track(t, v1)
	v2, e := testFill(v1, "b.c", str)
	noErr(t, e)
	track(t, v2)
	if got := decodeJSON(t, v2); got != `{"a":5,"b":{"c":"x"}}` {
		t.Fatalf("filled = %s", got)
	}
	// A new field, and the root path (unify in place).
	v3, e := testFill(v2, "n.m", five)
	noErr(t, e)
	track(t, v3)
	root, e := testFill(v3, "", mustCompile(t, ctx, "r: true"))
	noErr(t, e)
	track(t, root)
	if got := decodeJSON(t, root); !jsonEqual(got, `{"a":5,"b":{"c":"x"},"n":{"m":5},"r":true}`) {
		t.Fatalf("filled = %s", got)
	}
	// The base is unchanged.
	wantErr(t, testValidate(base, testOptConcrete), "incomplete")

	// Conflict, bad path, bad handle.
	r, e := testFill(v2, "a", mustCompile(t, ctx, "6"))
	if r != 0 {
		t.Fatalf("conflicting fill returned %d", r)
	}
	if err := wantErr(t, e, "eval"); fmt.Sprint(err.Errors[0].Path) != "[a]" {
		t.Fatalf("conflict path: %+v", err)
	}
	_, e = testFill(v2, "a.", five)
	wantUsage(t, e, "invalid path")
	_, e = testFill(v2, "a", ctx)
	wantUsage(t, e, "is of kind context, not value")
}

func TestSource(t *testing.T) {
	ctx := newCtx(t)
	v, e := testCompile(ctx, "a: 1\nb: *1 | int\n", "s.cue")
	noErr(t, e)
	track(t, v)
	data, e := testSource(mustLookup(t, v, "b"))
	noErr(t, e)
	var info struct {
		File         string
		Offset, End  int
		Line, Column int
		Text         string
	}
	if err := json.Unmarshal([]byte(data), &info); err != nil {
		t.Fatal(err)
	}
	src := "a: 1\nb: *1 | int\n"
	if info.File != "s.cue" || info.Line != 2 || info.Column != 1 || info.Text != "b: *1 | int" ||
		src[info.Offset:info.End] != "b: *1 | int" {
		t.Fatalf("source of b = %+v", info)
	}
}
