package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	cueembed "cuelang.org/go/cue/inject/embed"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
	"cuelang.org/go/mod/modconfig"

	"cuepy.dev/libcue/internal/localmod"
)

// loadConfig is the JSON document a caller passes to cue_load.
type loadConfig struct {
	Dir      string            `json:"dir"`
	Args     []string          `json:"args"`
	Package  string            `json:"package"`
	Tags     []string          `json:"tags"`
	Overlay  map[string]string `json:"overlay"`
	Registry string            `json:"registry"`
	CacheDir string            `json:"cache_dir"`
	// Modules are served from directories on disk instead of a registry,
	// keyed by path with major version ("example.com/m@v0").
	Modules map[string]localmod.Module `json:"modules"`
	// Env holds the caller's current values of the environment variables
	// a load depends on (envKeys, go/env.go): Go reads its own environment
	// once, at start-up, and never sees a later os.environ change. Nil:
	// the process's environment.
	Env map[string]string `json:"env"`
	// Offline forbids contacting any registry (CUEPY_OFFLINE=1 does too):
	// a module that is neither local nor in the cache is an error naming it.
	Offline bool `json:"offline"`

	guard *guardFS // what cue/load reads through (go/confine.go)
}

// loadMu serialises cue/load, which is not safe for concurrent use.
var loadMu sync.Mutex

//export cue_load
func cue_load(ctxh C.cue_handle, cfgJSON *C.char, n C.size_t, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	ctx, err := contextOf(ctxh)
	if err != nil {
		return fail(err)
	}
	var cfg loadConfig
	if err := json.Unmarshal([]byte(goString(cfgJSON, n)), &cfg); err != nil {
		return fail(usageErrorf("invalid load configuration: %v", err))
	}
	v, err := loadValue(ctx, &cfg)
	if err != nil {
		return fail(err)
	}
	*out = newValue(v)
	return 0
}

func loadValue(ctx *cue.Context, cfg *loadConfig) (cue.Value, error) {
	inst, err := loadInstance(cfg)
	if err != nil {
		return cue.Value{}, err
	}
	v := ctx.BuildInstance(inst)
	named := namedFiles(cfg)
	for _, f := range inst.OrphanedFiles {
		if !named[f.Filename] {
			continue // like the cue command, data files are used only when named
		}
		data, err := dataFile(ctx, f, cfg.guard)
		if err != nil {
			return cue.Value{}, err
		}
		v = v.Unify(data)
	}
	if err := valueErr(v); err != nil { // every error, as cue eval reports them (go/errors.go)
		return cue.Value{}, err
	}
	return v, nil
}

// namedFiles is the set of files named in the load arguments, as absolute
// paths and as given (cue/load reports either form).
func namedFiles(cfg *loadConfig) map[string]bool {
	named := map[string]bool{}
	for _, arg := range cfg.Args {
		named[arg] = true
		if !filepath.IsAbs(arg) {
			named[filepath.Join(cfg.Dir, arg)] = true
		}
	}
	return named
}

func loadInstance(cfg *loadConfig) (*build.Instance, error) {
	applyRuntimeEnv(cfg.Env) // go/env.go
	if !filepath.IsAbs(cfg.Dir) {
		return nil, usageErrorf("load directory %q is not an absolute path", cfg.Dir)
	}
	// Checked before cue/load reads anything: where the files may lie, and
	// (through cfg.guard, as cue/load's filesystem) what kind of file each is.
	root := moduleRoot(cfg.Dir, cfg.Overlay)
	if err := preCheck(cfg, root); err != nil {
		return nil, err
	}
	cfg.guard = newGuardFS(root, cfg.Overlay)
	lc := &load.Config{Dir: filepath.Clean(cfg.Dir), Package: cfg.Package, Tags: cfg.Tags, Registry: newRegistry(cfg), FS: cfg.guard}
	args := cfg.Args
	if len(args) == 0 {
		args = []string{"."}
	}
	loadMu.Lock()
	insts := load.Instances(args, lc)
	loadMu.Unlock()
	if len(insts) != 1 {
		return nil, withCategory(catLoad, fmt.Errorf("%v matched %d packages; name one with package=", args, len(insts)))
	}
	inst := insts[0]
	if inst.Err != nil {
		return nil, classifyLoadError(inst, cfg.guard)
	}
	if err := confine(inst, cfg); err != nil { // go/confine.go
		return nil, err
	}
	return inst, nil
}

// classifyLoadError reports a syntax error as such: cue/load folds parse
// failures into its own error, so the instance's files are parsed again
// (only on this failure path) to find them.
func classifyLoadError(inst *build.Instance, guard *guardFS) error {
	var syntax cueerrors.Error
	for _, name := range suspectFiles(inst) {
		src, err := guard.readFile(name)
		if err != nil {
			continue
		}
		if _, err := parser.ParseFile(name, src, parser.ParseComments); err != nil {
			syntax = cueerrors.Append(syntax, cueerrors.Promote(err, "parse"))
		}
	}
	if syntax != nil {
		return withCategory(catSyntax, syntax)
	}
	return withCategory(catLoad, inst.Err)
}

// suspectFiles lists the CUE files a load error may come from: the files of
// the instance and of what it imports, and every file the error points at
// (an import that failed to parse is not among the instance's imports).
func suspectFiles(inst *build.Instance) []string {
	seen := map[string]bool{}
	var names []string
	add := func(name string) {
		if strings.HasSuffix(name, ".cue") && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	for _, p := range cueerrors.Positions(inst.Err) {
		add(p.Filename())
	}
	_ = eachInstance(inst, func(i *build.Instance) (bool, error) {
		for _, f := range append(append([]*build.File{}, i.BuildFiles...), i.InvalidFiles...) {
			add(f.Filename)
		}
		return true, nil
	})
	return names
}

// dataFile builds a JSON or YAML file named among the load arguments;
// cue/load leaves such files to the caller, as the cue command places
// them at the root.
func dataFile(ctx *cue.Context, f *build.File, guard *guardFS) (cue.Value, error) {
	src, err := guard.readFile(f.Filename)
	if err != nil {
		return cue.Value{}, withCategory(catLoad, err)
	}
	if err := checkUTF8(f.Filename, src); err != nil { // the decoders say less, without a line
		return cue.Value{}, err
	}
	var expr ast.Expr
	switch f.Encoding {
	case build.JSON:
		expr, err = cuejson.Extract(f.Filename, src)
	case build.YAML:
		var file *ast.File
		file, err = cueyaml.Extract(f.Filename, src)
		if err == nil {
			if hasLongExponent(src) {
				if err := checkNumbers(file); err != nil {
					return cue.Value{}, err
				}
			}
			return ctx.BuildFile(file), nil
		}
		err = yamlError(f.Filename, src, err) // go/locate.go
	default:
		return cue.Value{}, withCategory(catLoad, fmt.Errorf("%s: unsupported file type %q", f.Filename, f.Encoding))
	}
	if err != nil {
		return cue.Value{}, withCategory(catSyntax, err)
	}
	if hasLongExponent(src) {
		if err := checkNumbers(expr); err != nil {
			return cue.Value{}, err
		}
	}
	return ctx.BuildExpr(expr), nil
}

// newRegistry serves the caller's local modules and falls back, lazily, to
// the registry configuration given for this call (or the caller's
// environment, go/env.go).
func newRegistry(cfg *loadConfig) modconfig.Registry {
	env := registryEnv(cfg)
	transport := registryTransport(cfg)
	return &localmod.Registry{
		Modules: cfg.Modules,
		Next: &modconfig.LazyRegistry{New: func() (modconfig.CachedRegistry, error) {
			return modconfig.NewRegistry(&modconfig.Config{Env: env, Transport: transport})
		}},
	}
}

// boundedTransport is the bounded transport without a proxy (publishing to
// cuepy's own registry).
var boundedTransport = newBoundedTransport(proxyKey{})

// eachInstance calls visit on inst and on every package it imports, once
// each, depth first; visit says whether to go on into that package's
// imports. The first error stops the walk.
func eachInstance(inst *build.Instance, visit func(*build.Instance) (descend bool, err error)) error {
	done := map[*build.Instance]bool{}
	var walk func(*build.Instance) error
	walk = func(i *build.Instance) error {
		if i == nil || done[i] {
			return nil
		}
		done[i] = true
		descend, err := visit(i)
		if err != nil || !descend {
			return err
		}
		for _, imp := range i.Imports {
			if err := walk(imp); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(inst)
}

// loadInputs is what cue_load_inputs reports: the files on disk a load of
// the same configuration reads, and the directories whose listing decides
// which files it reads.
type loadInputs struct {
	// Root is the main module's root directory.
	Root string `json:"root"`
	// Files are absolute paths: every CUE file of the instance and of each
	// package it imports from the main module or from a module served from
	// a directory (cfg.Modules), the other .cue files of their directories
	// (cue/load reads them for their package clause), cue.mod/module.cue of
	// those modules, the data files named in the arguments and the files
	// embedded with @embed. Overlay files are left out.
	Files []string `json:"files"`
	// Dirs are absolute paths of the directories whose listing decides what
	// is read: each package directory and its parents up to its module
	// root, each module's cue.mod, the directories between an embedding file
	// and what it embeds, and the directories an @embed glob lists.
	Dirs []string `json:"dirs"`
}

//export cue_load_inputs
func cue_load_inputs(cfgJSON *C.char, n C.size_t, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg loadConfig
	if err := json.Unmarshal([]byte(goString(cfgJSON, n)), &cfg); err != nil {
		return fail(usageErrorf("invalid load configuration: %v", err))
	}
	inputs, err := readInputs(&cfg)
	if err != nil {
		return fail(err)
	}
	data, err := json.Marshal(inputs)
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	return 0
}

func readInputs(cfg *loadConfig) (*loadInputs, error) {
	inst, err := loadInstance(cfg)
	if err != nil {
		return nil, err
	}
	roots := []string{filepath.Clean(inst.Root)}
	for _, m := range cfg.Modules {
		roots = append(roots, filepath.Clean(m.Dir))
	}
	// rootOf is the module root (main or served from a directory) holding
	// path, or "" (a registry module: pinned by its version, not read here).
	rootOf := func(path string) string {
		best := ""
		for _, r := range roots {
			if (path == r || strings.HasPrefix(path, r+string(filepath.Separator))) && len(r) > len(best) {
				best = r
			}
		}
		return best
	}
	files, dirs := map[string]bool{}, map[string]bool{}
	addFile := func(name string) {
		if name == "" || !filepath.IsAbs(name) {
			return
		}
		name = filepath.Clean(name)
		if _, overlaid := cfg.Overlay[name]; !overlaid && rootOf(name) != "" {
			files[name] = true
		}
	}
	// addDirs records dir and its parents up to root.
	addDirs := func(dir, root string) {
		for d := filepath.Clean(dir); rootOf(d) == root; d = filepath.Dir(d) {
			dirs[d] = true
			if d == root || filepath.Dir(d) == d {
				break
			}
		}
	}
	named := namedFiles(cfg)
	err = eachInstance(inst, func(i *build.Instance) (bool, error) {
		root := rootOf(filepath.Clean(i.Dir))
		if root == "" {
			return true, nil
		}
		for _, list := range [][]*build.File{i.BuildFiles, i.IgnoredFiles, i.InvalidFiles} {
			for _, f := range list {
				addFile(f.Filename)
			}
		}
		if i == inst {
			for _, f := range i.OrphanedFiles {
				if named[f.Filename] {
					addFile(f.Filename)
				}
			}
		}
		addDirs(i.Dir, root)
		dirs[filepath.Join(root, "cue.mod")] = true
		addFile(filepath.Join(root, "cue.mod", "module.cue"))
		for _, f := range i.Files {
			embedInputs(f, root, addFile, func(dir string) { addDirs(dir, root) })
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// cue/load reads every .cue file of the package directories (for its
	// package clause): all of them are inputs.
	for d := range dirs {
		if filepath.Base(d) == "cue.mod" {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".cue") && (e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0) {
				addFile(filepath.Join(d, e.Name()))
			}
		}
	}
	return &loadInputs{Root: filepath.Clean(inst.Root), Files: sortedKeys(files), Dirs: sortedKeys(dirs)}, nil
}

// embedInputs records the files a file's @embed attributes read (through
// cue/inject/embed, as the evaluator finds them) and the directories they
// depend on: the globs' listings and the directories between the file and
// each embedded one (a cue.mod there would make it another module's).
func embedInputs(f *ast.File, root string, addFile, addDir func(string)) {
	rel, err := filepath.Rel(root, f.Filename)
	if err != nil || strings.HasPrefix(rel, "..") {
		return
	}
	embeds, _ := cueembed.EmbeddedPaths(filepath.ToSlash(rel), f) // invalid ones fail the load itself
	if len(embeds) == 0 {
		return
	}
	fsys := &listingFS{FS: os.DirFS(root)}
	for _, e := range embeds {
		found, _ := e.FindAll(fsys)
		for _, name := range found {
			abs := filepath.Join(root, filepath.FromSlash(name))
			addFile(abs)
			addDir(filepath.Dir(abs))
		}
	}
	for _, name := range fsys.listed {
		addDir(filepath.Join(root, filepath.FromSlash(name)))
	}
}

// listingFS records the directories read through it (fs.Glob lists them).
type listingFS struct {
	fs.FS
	listed []string
}

func (l *listingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	l.listed = append(l.listed, name)
	return fs.ReadDir(l.FS, name)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
