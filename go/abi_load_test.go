package main

// Tests of cue_load (packages, imports, tags, overlays, data files, local
// modules) and of the in-memory registry (serve, publish, load through it).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mainModuleCUE = `module: "example.com/m@v0"
language: version: "v0.9.0"
`

// appModule writes a module with two packages, app importing lib.
func appModule(t *testing.T) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue": mainModuleCUE,
		"app.cue": `package app

import "example.com/m/lib"

svc: lib.#Service & {name: "web"}
env: *"dev" | string @tag(env)
replicas: *1 | int @tag(n, type=int)
`,
		"lib/lib.cue": `package lib

#Service: {
	name: string
	port: *8080 | int
	url:  "http://\(name):\(port)"
}
`,
	})
	return dir
}

// noRegistry keeps a load hermetic: any registry access fails at once.
func noRegistry(t *testing.T, cfg map[string]any) map[string]any {
	cfg["registry"] = "127.0.0.1:1+insecure"
	cfg["cache_dir"] = writableTempDir(t)
	return cfg
}

func TestLoadPackageWithImport(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	v := mustLoad(t, ctx, noRegistry(t, map[string]any{"dir": dir}))
	want := `{"svc":{"name":"web","port":8080,"url":"http://web:8080"},"env":"dev","replicas":1}`
	if got := decodeJSON(t, v); got != want {
		t.Fatalf("load = %s\nwant  %s", got, want)
	}
	// The same from a subdirectory of another package, naming the package
	// by import path.
	v = mustLoad(t, ctx, noRegistry(t, map[string]any{"dir": filepath.Join(dir, "lib"), "args": []string{"example.com/m/lib"}}))
	if got, _ := testExport(v, testFormatCUE, testOptDefinitions); !strings.Contains(got, "#Service") {
		t.Fatalf("lib exported as %q", got)
	}
}

func TestLoadTags(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	v := mustLoad(t, ctx, noRegistry(t, map[string]any{"dir": dir, "tags": []string{"env=prod", "n=3"}}))
	if got := decodeAs(t, mustLookup(t, v, "env"), testDecodedString); got != "prod" {
		t.Errorf("env = %q", got)
	}
	if got := decodeAs(t, mustLookup(t, v, "replicas"), testDecodedInt); got != "3" {
		t.Errorf("replicas = %q", got)
	}
	// A tag value of the wrong type, and an unknown tag: load errors.
	e := loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir, "tags": []string{"n=many"}}))
	wantErr(t, e, "load")
	e = loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir, "tags": []string{"nosuch=1"}}))
	if err := wantErr(t, e, "load"); !strings.Contains(err.Text, "nosuch") {
		t.Errorf("unknown tag error: %s", err.Text)
	}
}

func TestLoadOverlay(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	libFile := filepath.Join(dir, "lib", "lib.cue")
	before, _ := os.ReadFile(libFile)
	v := mustLoad(t, ctx, noRegistry(t, map[string]any{
		"dir": dir,
		"overlay": map[string]string{
			// replaces a file of the imported package
			libFile: "package lib\n#Service: {name: string, port: 9090, url: \"svc://\\(name):\\(port)\"}\n",
			// adds a file to the main package
			filepath.Join(dir, "extra.cue"): "package app\nextra: svc.port + 1\n",
		},
	}))
	want := `{"svc":{"name":"web","port":9090,"url":"svc://web:9090"},"env":"dev","replicas":1,"extra":9091}`
	if got := decodeJSON(t, v); !jsonEqual(got, want) {
		t.Fatalf("load with overlay = %s\nwant %s", got, want)
	}
	if after, _ := os.ReadFile(libFile); string(after) != string(before) {
		t.Fatalf("the overlay changed the file on disk")
	}
}

// Data files named among the load arguments, with the CUE files they go
// with, are unified into the result.
func TestLoadDataFileArgs(t *testing.T) {
	ctx := newCtx(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue": mainModuleCUE,
		"schema.cue":         "package cfg\nport: int\nname: string\nreplicas: *1 | int\n",
		"data.json":          `{"port": 8080, "name": "api", "big": 123456789012345678901234567890}`,
		"more.yaml":          "replicas: 3\n",
		"bad.json":           `{"port": "eighty"}`,
		"broken.json":        `{"port": `,
	})
	v := mustLoad(t, ctx, noRegistry(t, map[string]any{"dir": dir, "args": []string{"schema.cue", "data.json", "more.yaml"}}))
	if got := decodeJSON(t, v); !jsonEqual(got, `{"port":8080,"name":"api","replicas":3,"big":123456789012345678901234567890}`) ||
		!strings.Contains(got, "123456789012345678901234567890") {
		t.Fatalf("load with data files = %s", got)
	}
	// A data file alone.
	v = mustLoad(t, ctx, noRegistry(t, map[string]any{"dir": dir, "args": []string{"data.json"}}))
	if got := decodeJSON(t, v); !strings.HasPrefix(got, `{"port":8080,"name":"api"`) {
		t.Fatalf("load of data.json = %s", got)
	}
	// Data that contradicts the schema: an eval error naming the field.
	e := loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir, "args": []string{"schema.cue", "bad.json"}}))
	if err := wantErr(t, e, "eval"); !strings.Contains(err.Text, "port") {
		t.Fatalf("conflicting data file: %s", e)
	}
	// A data file that is not valid JSON.
	e = loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir, "args": []string{"schema.cue", "broken.json"}}))
	if err := wantErr(t, e, "syntax"); !strings.Contains(err.Text, "broken.json") {
		t.Fatalf("broken data file: %s", e)
	}
}

// A JSON or YAML file that merely sits in the package directory is not part
// of the package: `cue export .` ignores it.
func TestLoadIgnoresUnnamedDataFiles(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	writeTree(t, dir, map[string]string{"stray.json": `{"stray": true}`, "list.yaml": "- 1\n"})
	v, e := testLoad(ctx, loadConfigJSON(t, noRegistry(t, map[string]any{"dir": dir})))
	if v != 0 {
		track(t, v)
	}
	if e != "" || strings.Contains(decodeJSON(t, v), "stray") {
		t.Fatalf("data files in the package directory were unified into the package; error %s", e)
	}
}

func TestLoadMissingImport(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	appFile := filepath.Join(dir, "app.cue")
	for _, imp := range []string{"example.com/m/nope", "example.com/other/nope"} {
		e := loadErr(t, ctx, noRegistry(t, map[string]any{
			"dir":     dir,
			"overlay": map[string]string{appFile: "package app\n\nimport \"" + imp + "\"\n\nx: nope.y\n"},
		}))
		err := wantErr(t, e, "load")
		if !strings.Contains(err.Text, "cannot find package") || !strings.Contains(err.Text, imp) {
			t.Errorf("missing import %s: %s", imp, err.Text)
		}
		if !err.hasPos(errPos{appFile, 3, 8}) {
			t.Errorf("missing import %s: no position %s:3:8 in %+v", imp, appFile, err.Errors)
		}
	}
}

func TestLoadSyntaxError(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	writeTree(t, dir, map[string]string{"bad.cue": "package app\n\nb: {\n  c: 1,,\n}\n"})
	badFile := filepath.Join(dir, "bad.cue")
	e := loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir}))
	err := wantErr(t, e, "syntax")
	if len(err.Errors[0].Positions) == 0 {
		t.Fatalf("syntax error without position: %s", e)
	}
	if p := err.Errors[0].Positions[0]; p.File != badFile || p.Line != 4 {
		t.Fatalf("syntax error at %v, want %s:4", p, badFile)
	}
	// The same from an overlay.
	writeTree(t, dir, map[string]string{"bad.cue": "package app\n"})
	e = loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir, "overlay": map[string]string{badFile: "package app\nx: {\n"}}))
	err = wantErr(t, e, "syntax")
	if !err.hasPos(errPos{badFile, 2, 6}) {
		t.Fatalf("overlay syntax error positions: %+v", err.Errors)
	}
}

// A syntax error in a file of an imported package.
func TestLoadSyntaxErrorInImport(t *testing.T) {
	ctx := newCtx(t)
	dir := appModule(t)
	libFile := filepath.Join(dir, "lib", "lib.cue")
	e := loadErr(t, ctx, noRegistry(t, map[string]any{"dir": dir, "overlay": map[string]string{libFile: "package lib\ngreeting: \"open\n"}}))
	err := wantErr(t, e, "syntax")
	if !err.hasPos(errPos{libFile, 2, 11}) {
		t.Fatalf("no position %s:2:11 in %+v", libFile, err.Errors)
	}
}

func TestLoadBadConfig(t *testing.T) {
	ctx := newCtx(t)
	_, e := testLoad(ctx, "{bad")
	wantUsage(t, e, "invalid load configuration")
	_, e = testLoad(ctx, `{"tags": "x"}`)
	wantUsage(t, e, "invalid load configuration")
	// A directory that does not exist, and one with two packages.
	e = loadErr(t, ctx, map[string]any{"dir": filepath.Join(t.TempDir(), "nope")})
	wantErr(t, e, "load")
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"cue.mod/module.cue": mainModuleCUE, "a.cue": "package a\nx: 1\n", "b.cue": "package b\nx: 2\n"})
	e = loadErr(t, ctx, map[string]any{"dir": dir})
	wantErr(t, e, "load")
	v := mustLoad(t, ctx, map[string]any{"dir": dir, "package": "b"})
	if got := decodeJSON(t, v); got != `{"x":2}` {
		t.Fatalf("package b = %s", got)
	}
}

// depModule writes module example.com/dep@v0 to a new directory.
func depModule(t *testing.T) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue": "module: \"example.com/dep@v0\"\nlanguage: version: \"v0.9.0\"\n",
		"dep.cue":            "package dep\n\nname: \"dep\"\n#Port: int & >0 & <65536\n",
	})
	return dir
}

// userModule writes a module that depends on example.com/dep@v0 v0.1.0.
func userModule(t *testing.T) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue": mainModuleCUE + "deps: \"example.com/dep@v0\": v: \"v0.1.0\"\n",
		"user.cue":           "package user\n\nimport \"example.com/dep\"\n\nfrom: dep.name\nport: dep.#Port & 443\n",
	})
	return dir
}

// A module served from a local directory: no registry is asked.
func TestLoadLocalModule(t *testing.T) {
	ctx := newCtx(t)
	dep, user := depModule(t), userModule(t)
	v := mustLoad(t, ctx, noRegistry(t, map[string]any{
		"dir":     user,
		"modules": map[string]any{"example.com/dep@v0": map[string]string{"version": "v0.1.0", "dir": dep}},
	}))
	if got := decodeJSON(t, v); got != `{"from":"dep","port":443}` {
		t.Fatalf("load with a local module = %s", got)
	}
	// Another version than the one required: the registry is asked, and
	// here it cannot answer.
	e := loadErr(t, ctx, noRegistry(t, map[string]any{
		"dir":     user,
		"modules": map[string]any{"example.com/dep@v0": map[string]string{"version": "v0.2.0", "dir": dep}},
	}))
	if err := wantErr(t, e, "load"); !strings.Contains(err.Text, "example.com/dep@v0.1.0") {
		t.Fatalf("wrong local version: %s", err.Text)
	}
}

func TestRegistryServePublishLoad(t *testing.T) {
	start := testLiveHandles()
	reg, host, e := testRegistryServe("127.0.0.1:0")
	noErr(t, e)
	freed := false
	t.Cleanup(func() {
		if !freed {
			_ = testFree(reg)
		}
	})
	if reg == 0 || !strings.HasPrefix(host, "127.0.0.1:") || strings.HasSuffix(host, ":0") {
		t.Fatalf("serve: handle %d, host %q", reg, host)
	}
	if n := testLiveHandles(); n != start+1 {
		t.Fatalf("a registry is a live handle: %d, want %d", n, start+1)
	}
	registry := host + "+insecure"

	dep, user := depModule(t), userModule(t)
	noErr(t, testRegistryPublish(registry, dep, "v0.1.0"))

	ctx := newCtx(t)
	cache := writableTempDir(t)
	v := mustLoad(t, ctx, map[string]any{"dir": user, "registry": registry, "cache_dir": cache})
	if got := decodeJSON(t, v); got != `{"from":"dep","port":443}` {
		t.Fatalf("load through the registry = %s", got)
	}
	if _, err := os.Stat(filepath.Join(cache, "mod", "extract", "example.com", "dep@v0.1.0", "dep.cue")); err != nil {
		t.Errorf("the module was not extracted into cache_dir: %v", err)
	}

	// Publish errors: a bad version, a directory that is no module.
	e = testRegistryPublish(registry, dep, "bad")
	if err := wantErr(t, e, "load"); !strings.Contains(err.Text, "bad") {
		t.Errorf("publish of a bad version: %s", err.Text)
	}
	checkGoErrorMessage(t, wantErr(t, e, "load"))
	wantErr(t, testRegistryPublish(registry, t.TempDir(), "v0.1.0"), "load")

	// The address is taken while the registry runs.
	_, _, e = testRegistryServe(host)
	if err := wantErr(t, e, "load"); !strings.Contains(err.Text, "address already in use") {
		t.Errorf("serve on a busy address: %s", err.Text)
	}

	// Freeing the handle stops the server.
	live := testLiveHandles()
	noErr(t, testFree(reg))
	freed = true
	if n := testLiveHandles(); n != live-1 {
		t.Fatalf("live handles = %d after freeing the registry, want %d", n, live-1)
	}
	e = testRegistryPublish(registry, dep, "v0.2.0")
	if err := wantErr(t, e, "load"); !strings.Contains(err.Text, "connection refused") {
		t.Fatalf("publish to a stopped registry: %s", err.Text)
	}
	wantUsage(t, testFree(reg), "invalid or already freed handle")

	// What was fetched is in the cache: loading again works without the
	// registry.
	v = mustLoad(t, ctx, map[string]any{"dir": user, "registry": registry, "cache_dir": cache})
	if got := decodeJSON(t, v); got != `{"from":"dep","port":443}` {
		t.Fatalf("load from the cache = %s", got)
	}
}
