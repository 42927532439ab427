package main

// Tests of cue_evaluate (the -e flag's expressions) and cue_vet (cue vet,
// with data files checked document by document), and of the data-file
// handling of cue_load (YAML streams, JSON Schema, a package with data).

import (
	"strings"
	"testing"
)

// exportJSON is v as compact JSON.
func exportJSON(t *testing.T, v uint64) string {
	t.Helper()
	out, e := testExport(v, testFormatJSON, 0)
	noErr(t, e)
	return out
}

func TestEvaluate(t *testing.T) {
	ctx := newCtx(t)
	v := mustCompile(t, ctx, "a: 1\nb: {c: 2}\n_h: 3\nname: \"web\"\n")
	for expr, want := range map[string]string{
		"a + 1":                  "2",
		"[a, b.c]":               "[1,2]",
		"_h * 2":                 "6",
		"strings.ToUpper(name)":  `"WEB"`,
		`{n: a, "m": b}`:         `{"n":1,"m":{"c":2}}`,
		"[for x in [1,2,3] {x}]": "[1,2,3]",
	} {
		r, e := testEvaluate(v, expr, "--expression")
		noErr(t, e)
		track(t, r)
		if got := exportJSON(t, r); got != want {
			t.Errorf("evaluate(%q) = %s, want %s", expr, got, want)
		}
	}
	// A value taken from another is the scope: its fields, and the root's by name.
	b := mustLookup(t, v, "b")
	r, e := testEvaluate(b, "c + a", "--expression")
	noErr(t, e)
	track(t, r)
	if got := exportJSON(t, r); got != "3" {
		t.Errorf("evaluate in b = %s", got)
	}

	_, e = testEvaluate(v, "a +", "expr.cue")
	se := wantErr(t, e, "syntax")
	if !se.hasPos(errPos{"expr.cue", 1, 4}) {
		t.Errorf("syntax error position: %+v", se)
	}
	_, e = testEvaluate(v, "nope", "--expression")
	re := wantErr(t, e, "eval")
	if re.Text != "reference \"nope\" not found:\n    --expression:1:1\n" {
		t.Errorf("reference error text %q", re.Text)
	}
	_, e = testEvaluate(v, "a & 2", "--expression")
	wantErr(t, e, "eval")
	_, e = testEvaluate(ctx, "a", "")
	wantUsage(t, e, "not value")
}

func TestEvaluateHiddenInPackage(t *testing.T) {
	ctx := newCtx(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue": mainModuleCUE,
		"x.cue":              "package x\n_secret: \"s\"\nport: 80\n",
	})
	v := mustLoad(t, ctx, noRegistry(t, map[string]any{"dir": dir}))
	r, e := testEvaluate(v, `"\(_secret):\(port)"`, "--expression")
	noErr(t, e)
	track(t, r)
	if got := exportJSON(t, r); got != `"s:80"` {
		t.Errorf("evaluate = %s", got)
	}
}

func TestLoadDataFiles(t *testing.T) {
	ctx := newCtx(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue": mainModuleCUE,
		"p.cue":              "package p\nname: string\nreplicas: *1 | int & >0\n",
		"m.yaml":             "name: a\n---\nreplicas: 2\n",
		"schema.json":        `{"$schema": "https://json-schema.org/draft/2020-12/schema", "properties": {"port": {"type": "integer", "minimum": 1}}}`,
		"d.yaml":             "port: 8\n",
		"bad.yaml":           "port: 0\n",
	})
	load := func(args ...string) (uint64, string) {
		return testLoad(ctx, loadConfigJSON(t, noRegistry(t, map[string]any{"dir": dir, "args": args})))
	}
	v, e := load("m.yaml")
	noErr(t, e)
	track(t, v)
	if got := exportJSON(t, v); got != `{"name":"a","replicas":2}` {
		t.Errorf("a YAML stream merges: %s", got)
	}
	v, e = load(".", "m.yaml")
	noErr(t, e)
	track(t, v)
	if got := exportJSON(t, v); got != `{"name":"a","replicas":2}` {
		t.Errorf("package and stream: %s", got)
	}
	v, e = load("schema.json", "d.yaml")
	noErr(t, e)
	track(t, v)
	if got := exportJSON(t, v); got != `{"port":8}` {
		t.Errorf("JSON Schema and data: %s", got)
	}
	_, e = load("schema.json", "bad.yaml")
	if ee := wantErr(t, e, "eval"); !strings.Contains(ee.Text, "out of bound >=1") {
		t.Errorf("JSON Schema violated: %s", ee.Text)
	}
	_, e = load(".", "schema.json", "d.yaml")
	if ee := wantErr(t, e, "load"); ee.Text != "cannot combine packages with individual schema files\n" {
		t.Errorf("package with a schema file: %q", ee.Text)
	}
}

func TestVet(t *testing.T) {
	ctx := newCtx(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"s.cue":  "n: int & <10\n",
		"i.cue":  "a: int\n",
		"m.yaml": "n: 1\n---\nn: 20\n---\nn: 30\n",
		"d.yaml": "x: 1\n---\na: 1\n---\ny: 2\n",
		"c.yaml": "n: 1\n---\nn: 2\n",
	})
	cfg := func(args ...string) string {
		return loadConfigJSON(t, noRegistry(t, map[string]any{"dir": dir, "args": args}))
	}
	noErr(t, testVet(ctx, cfg("s.cue", "c.yaml"), -1)) // each document alone: no conflict between them
	e := wantErr(t, testVet(ctx, cfg("s.cue", "m.yaml"), -1), "eval")
	if len(e.Errors) != 1 || !strings.Contains(e.Text, "invalid value 20 (out of bound <10)") {
		t.Errorf("a conflict ends the check, as in cue: %+v", e)
	}
	e = wantErr(t, testVet(ctx, cfg("i.cue", "d.yaml"), 1), "incomplete")
	if len(e.Errors) != 2 || strings.Count(e.Text, "a: incomplete value int") != 2 {
		t.Errorf("one error per incomplete document, in order: %+v", e)
	}
	e = wantErr(t, testVet(ctx, cfg("i.cue"), -1), "incomplete")
	if !strings.HasPrefix(e.Text, "some instances are incomplete;") {
		t.Errorf("vet's default: %q", e.Text)
	}
	e = wantErr(t, testVet(ctx, cfg("i.cue"), 1), "incomplete")
	if !strings.HasPrefix(e.Text, "a: incomplete value int") {
		t.Errorf("vet -c: %q", e.Text)
	}
	noErr(t, testVet(ctx, cfg("i.cue"), 0))
	wantUsage(t, testVet(ctx, cfg("m.yaml"), -1), "data files specified without a schema")
	wantUsage(t, testVet(ctx, `{`, -1), "invalid load configuration")
}
