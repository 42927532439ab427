package main

import (
	"fmt"
	"testing"
)

func TestProbe(t *testing.T) {
	ctx, _ := testContextNew()
	p := func(args ...any) { fmt.Println(args...) }
	p("version", testVersion(), testABIVersion())
	_, e := testCompile(ctx, "a: 1\nb: {", "x.cue"); p("syntax", e)
	_, e = testCompile(ctx, "a: 1\na: 2\n", "x.cue"); p("conflict compile", e)
	_, e = testCompile(ctx, "x: 1 & 2\n", "x.cue"); p("conflict compile2", e)
	v, e := testCompile(ctx, "a: 1\na: 2\n", "x.cue"); p("v", v, e, testValidate(v, 0))
	v, _ = testCompile(ctx, "a: 1 & 2\n", "x.cue"); p("1&2 validate", testValidate(v, 0))
	p(testDecode(v))
	v, _ = testCompile(ctx, "a: 1\n#D: {x: int}\n_h: 3\no?: int\nr!: int\n\"q-x\": 2\n", "x.cue")
	for _, o := range []uint32{0, 1, 2, 4, 7} {
		l, hs, e := testFields(v, o); p("fields", o, l, len(hs), e)
	}
	for _, s := range []string{"int", "5", "{}", "*1 | int", "[1,2]", "\"s\"", "null", "1.5", "_|_"} {
		w, e := testCompile(ctx, s, "")
		if e != "" { p(s, e); continue }
		p("kind", s, fmt.Sprint(testKind(w)))
		d, f, e := testDecode(w); p("decode", s, d, f, e)
	}
	_, e = testLookup(v, "a."); p("badpath", e)
	ctx2, _ := testContextNew()
	a, _ := testCompile(ctx, "x: 1\ny: int", "")
	b, _ := testCompile(ctx2, "y: 2\nz: 3", "")
	u, e := testUnify([]uint64{a, b}); p("cross unify", u, e); p(testDecode(u))
	u, e = testFill(a, "y", b); p("cross fill", u, e); p(testDecode(u))
	_, e = testUnify([]uint64{ctx}); p("ctx as value", e)
	_, e = testCompile(a, "x: 1", ""); p("value as ctx", e)
	p("free", testFree(a), testFree(a))
	_, e = testLookup(a, "x"); p("freed", e)
	_, e = testLookup(0, "x"); p("zero", e)
	p("take value", testErrorTake(b))
	p("take 0", testErrorTake(0))
	v, _ = testCompile(ctx, "a: *1 | int\nb: [1, 2]\n#D: {x: int}\nc: \"s\" @attr(x)\n// doc\nd: 1.5\n", "")
	for _, f := range []int32{0, 1, 2} {
		for _, o := range []uint32{0, testOptIndent, testOptFinal, testOptFinal | testOptConcrete, testOptDefinitions | testOptDocs | testOptAttributes} {
			s, e := testExport(v, f, o); p("export", f, o, fmt.Sprintf("%q", s), e)
		}
	}
	v, _ = testCompile(ctx, "a: int\nb: *1 | int\n", "")
	for _, o := range []uint32{0, testOptConcrete, testOptFinal, testOptConcrete | testOptFinal} {
		p("validate", o, testValidate(v, o))
	}
	v, _ = testCompile(ctx, "b: *1 | int\n", "")
	for _, o := range []uint32{0, testOptConcrete, testOptFinal, testOptConcrete | testOptFinal} {
		p("validate b", o, testValidate(v, o))
	}
	s, e := testExport(v, 0, 0); p(s, e)
	d, f, e := testDecode(v); p(d, f, e)
	l, _ := testLookup(v, "b"); p(testSource(l))
}
