// Package loader builds values from CUE source: Compile for text, Load for
// a package (or files) that cue/load reads as a JSON configuration says
// (Config), confined to what the caller may read (package confine) and
// with the caller's environment (package runenv). Inputs reports what such
// a load reads, for caches.
package loader

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/mod/modconfig"

	"cuepy.dev/libcue/internal/confine"
	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/experiment"
	"cuepy.dev/libcue/internal/localmod"
	"cuepy.dev/libcue/internal/runenv"
)

// Config is the JSON document a caller passes to cue_load.
type Config struct {
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
	// a load depends on (package runenv): Go reads its own environment
	// once, at start-up, and never sees a later os.environ change. Nil:
	// the process's environment.
	Env map[string]string `json:"env"`
	// Offline forbids contacting any registry (CUEPY_OFFLINE=1 does too):
	// a module that is neither local nor in the cache is an error naming it.
	Offline bool `json:"offline"`
	// TagVars injects cue/load's default tag variables (now, os, arch,
	// cwd, username, hostname, rand) for @tag(name,var=...), as `cue -T`.
	TagVars bool `json:"tag_vars"`
	// Origins say, for overlay files generated from others, where their
	// lines come from (origins.go), keyed as Overlay.
	Origins map[string]Origin `json:"origins"`

	guard *confine.FS // what cue/load reads through
}

// loadMu serialises cue/load, which is not safe for concurrent use.
var loadMu sync.Mutex

// loadInstances is load.Instances under loadMu. cue/load evaluates (a module
// file, say), so a stopped evaluation panics through it: the lock is released
// by defer, or every later load would wait for ever.
func loadInstances(args []string, lc *load.Config) []*build.Instance {
	loadMu.Lock()
	defer loadMu.Unlock()
	return load.Instances(args, lc)
}

// Load builds what cfg names as `cue export` and `cue eval` do: the
// package or CUE files, with the data files named in its arguments unified
// in (each document of a YAML stream in turn; a JSON Schema or OpenAPI file
// as the CUE it translates to, see data.go).
func Load(ctx *cue.Context, cfg *Config) (cue.Value, error) {
	p, err := newPlan(ctx, cfg)
	if err != nil {
		return cue.Value{}, err
	}
	v, err := p.merged()
	if err != nil {
		return cue.Value{}, err
	}
	if err := cueerr.OfValue(v); err != nil { // every error, as cue eval reports them
		return cue.Value{}, err
	}
	return v, nil
}

// namedFiles is the set of files named in the load arguments, as absolute
// paths and as given (cue/load reports either form).
func namedFiles(cfg *Config) map[string]bool {
	named := map[string]bool{}
	for _, arg := range cfg.Args {
		named[arg] = true
		if !filepath.IsAbs(arg) {
			named[filepath.Join(cfg.Dir, arg)] = true
		}
	}
	return named
}

// Instance loads the one instance cfg names, checked (package confine),
// without building it.
func Instance(cfg *Config) (*build.Instance, error) {
	insts, err := instances(cfg)
	if err != nil {
		return nil, err
	}
	if len(insts) != 1 {
		return nil, cueerr.WithCategory(cueerr.Load, fmt.Errorf("%v matched %d packages; name one with package=", loadArgs(cfg), len(insts)))
	}
	return insts[0], nil
}

func loadArgs(cfg *Config) []string {
	if len(cfg.Args) == 0 {
		return []string{"."}
	}
	return cfg.Args
}

// instances loads the instances cfg names, each checked (package confine),
// without building them: the packages, and the instance cue/load makes of
// the files named (CUE and data files alike).
func instances(cfg *Config) ([]*build.Instance, error) {
	runenv.ApplyRuntime(cfg.Env)
	if err := experiment.CheckEnv(cfg.Env); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(cfg.Dir) {
		return nil, cueerr.Usagef("load directory %q is not an absolute path", cfg.Dir)
	}
	// Checked before cue/load reads anything: where the files may lie, and
	// (through cfg.guard, as cue/load's filesystem) what kind of file each is.
	root := confine.ModuleRoot(cfg.Dir, cfg.Overlay)
	if err := confine.PreCheck(cfg.Dir, cfg.Args, cfg.Overlay, root); err != nil {
		return nil, err
	}
	cfg.guard = confine.NewFS(root, cfg.Overlay)
	lc := &load.Config{Dir: filepath.Clean(cfg.Dir), Package: cfg.Package, Tags: cfg.Tags, Registry: newRegistry(cfg), FS: cfg.guard}
	if cfg.TagVars {
		lc.TagVars = load.DefaultTagVars() // `cue -T`
	}
	placed, err := origins(cfg)
	if err != nil {
		return nil, cueerr.Usagef("%v", err)
	}
	if placed != nil {
		lc.ParseFile = parseWithOrigins(placed)
	}
	insts := loadInstances(loadArgs(cfg), lc)
	if len(insts) == 0 {
		return nil, cueerr.WithCategory(cueerr.Load, fmt.Errorf("invalid args"))
	}
	named := namedFiles(cfg)
	for _, inst := range insts {
		if inst.Err != nil {
			return nil, classifyLoadError(inst, root, cfg.guard)
		}
		if err := confine.Check(inst, cfg.Overlay, named, cfg.guard); err != nil {
			return nil, err
		}
	}
	return insts, nil
}

// classifyLoadError reports a syntax error as such: cue/load folds parse
// failures into its own error, so the instance's files are parsed again
// (only on this failure path) to find them.
func classifyLoadError(inst *build.Instance, root string, guard *confine.FS) error {
	var syntax cueerrors.Error
	for _, name := range suspectFiles(inst) {
		src, err := guard.ReadPath(name)
		if err != nil {
			continue
		}
		if _, err := parser.ParseFile(name, src, parser.ParseComments); err != nil {
			syntax = cueerrors.Append(syntax, cueerrors.Promote(err, "parse"))
		}
	}
	if syntax != nil {
		return cueerr.WithCategory(cueerr.Syntax, syntax)
	}
	return cueerr.WithCategory(cueerr.Load, inModuleFile(inst.Err, root, guard))
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
	_ = confine.EachInstance(inst, func(i *build.Instance) (bool, error) {
		for _, f := range append(append([]*build.File{}, i.BuildFiles...), i.InvalidFiles...) {
			add(f.Filename)
		}
		return true, nil
	})
	return names
}

// newRegistry serves the caller's local modules and falls back, lazily, to
// the registry configuration given for this call (or the caller's
// environment, package runenv).
func newRegistry(cfg *Config) modconfig.Registry {
	env := runenv.RegistryEnv(cfg.Env, cfg.Registry, cfg.CacheDir)
	transport := runenv.RegistryTransport(cfg.Env, cfg.Offline)
	return &localmod.Registry{
		Modules: cfg.Modules,
		Next: &modconfig.LazyRegistry{New: func() (modconfig.CachedRegistry, error) {
			return modconfig.NewRegistry(&modconfig.Config{Env: env, Transport: transport})
		}},
	}
}
