package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
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
	if err := json.Unmarshal([]byte(C.GoStringN(cfgJSON, C.int(n))), &cfg); err != nil {
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
	for _, f := range inst.OrphanedFiles {
		data, err := dataFile(ctx, f, cfg.Overlay)
		if err != nil {
			return cue.Value{}, err
		}
		v = v.Unify(data)
	}
	if err := v.Err(); err != nil {
		return cue.Value{}, withCategory(catEval, err)
	}
	return v, nil
}

func loadInstance(cfg *loadConfig) (*build.Instance, error) {
	lc := &load.Config{Dir: cfg.Dir, Package: cfg.Package, Tags: cfg.Tags, Registry: newRegistry(cfg)}
	if len(cfg.Overlay) > 0 {
		lc.Overlay = make(map[string]load.Source, len(cfg.Overlay))
		for path, src := range cfg.Overlay {
			lc.Overlay[path] = load.FromString(src)
		}
	}
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
		return nil, classifyLoadError(inst, cfg.Overlay)
	}
	return inst, nil
}

// classifyLoadError reports a syntax error as such: cue/load folds parse
// failures into its own error, so the instance's files are parsed again
// (only on this failure path) to find them.
func classifyLoadError(inst *build.Instance, overlay map[string]string) error {
	var syntax cueerrors.Error
	files := append(append([]*build.File{}, inst.BuildFiles...), inst.InvalidFiles...)
	for _, f := range files {
		if !strings.HasSuffix(f.Filename, ".cue") {
			continue
		}
		src, err := readSource(f.Filename, overlay)
		if err != nil {
			continue
		}
		if _, err := parser.ParseFile(f.Filename, src, parser.ParseComments); err != nil {
			syntax = cueerrors.Append(syntax, cueerrors.Promote(err, "parse"))
		}
	}
	if syntax != nil {
		return withCategory(catSyntax, syntax)
	}
	return withCategory(catLoad, inst.Err)
}

func readSource(path string, overlay map[string]string) ([]byte, error) {
	if src, ok := overlay[path]; ok {
		return []byte(src), nil
	}
	return os.ReadFile(path)
}

// dataFile builds a JSON or YAML file named among the load arguments;
// cue/load leaves such files to the caller, as the cue command places
// them at the root.
func dataFile(ctx *cue.Context, f *build.File, overlay map[string]string) (cue.Value, error) {
	src, err := readSource(f.Filename, overlay)
	if err != nil {
		return cue.Value{}, withCategory(catLoad, err)
	}
	var expr ast.Expr
	switch f.Encoding {
	case build.JSON:
		expr, err = cuejson.Extract(f.Filename, src)
	case build.YAML:
		var file *ast.File
		file, err = cueyaml.Extract(f.Filename, src)
		if err == nil {
			return ctx.BuildFile(file), nil
		}
	default:
		return cue.Value{}, withCategory(catLoad, fmt.Errorf("%s: unsupported file type %q", f.Filename, f.Encoding))
	}
	if err != nil {
		return cue.Value{}, withCategory(catSyntax, err)
	}
	return ctx.BuildExpr(expr), nil
}

// newRegistry serves the caller's local modules and falls back, lazily, to
// the registry configuration given for this call (or the environment's).
func newRegistry(cfg *loadConfig) modconfig.Registry {
	env := registryEnv(cfg)
	return &localmod.Registry{
		Modules: cfg.Modules,
		Next: &modconfig.LazyRegistry{New: func() (modconfig.CachedRegistry, error) {
			return modconfig.NewRegistry(&modconfig.Config{Env: env, Transport: boundedTransport})
		}},
	}
}

// boundedTransport keeps a registry that stops answering from hanging a load.
var boundedTransport = &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	IdleConnTimeout:       30 * time.Second,
}

// registryEnv gives the registry its configuration through an explicit
// environment, never by changing the process's own.
func registryEnv(cfg *loadConfig) []string {
	if cfg.Registry == "" && cfg.CacheDir == "" {
		return nil
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUE_REGISTRY=") && !strings.HasPrefix(kv, "CUE_CACHE_DIR=") {
			env = append(env, kv)
		}
	}
	if cfg.Registry != "" {
		env = append(env, "CUE_REGISTRY="+cfg.Registry)
	}
	if cfg.CacheDir != "" {
		env = append(env, "CUE_CACHE_DIR="+cfg.CacheDir)
	}
	return env
}
