// Command cuepy-native is the Go anchor of cuepy's benchmarks: it does with
// cuelang.org/go directly (same version as libcuepy) what cuepy does through
// its binding, and prints nanoseconds per operation as JSON.
//
//	cuepy-native scalar -n 200000            lookup + decode of a scalar
//	cuepy-native load -n 20 [-module PATH@VERSION=DIR]... DIR [FILE...]
//	                                         load + extract of a module
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/mod/modconfig"

	"cuepy.dev/libcue/internal/localmod"
)

// moduleFlag collects -module PATH@VERSION=DIR flags.
type moduleFlag map[string]localmod.Module

func (m moduleFlag) String() string { return fmt.Sprint(map[string]localmod.Module(m)) }

func (m moduleFlag) Set(s string) error {
	spec, dir, ok := strings.Cut(s, "=")
	path, version, ok2 := strings.Cut(spec, "@")
	if !ok || !ok2 {
		return fmt.Errorf("want PATH@VERSION=DIR, got %q", s)
	}
	major, _, _ := strings.Cut(version, ".")
	m[path+"@"+major] = localmod.Module{Version: version, Dir: dir}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cuepy-native scalar|load [-n N] [DIR FILE...]")
		os.Exit(2)
	}
	mode := os.Args[1]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	n := flags.Int("n", 1000, "operations to time")
	warmup := flags.Int("warmup", 3, "untimed operations first")
	registry := flags.String("registry", "", "CUE_REGISTRY for module dependencies")
	cacheDir := flags.String("cache-dir", "", "CUE_CACHE_DIR")
	modules := moduleFlag{}
	flags.Var(modules, "module", "serve module PATH@VERSION from DIR (PATH@VERSION=DIR), as cuepy does its catalog")
	cpuProfile := flags.String("cpuprofile", "", "write a CPU profile of the timed operations to this file")
	_ = flags.Parse(os.Args[2:])
	var op func() error
	switch mode {
	case "scalar":
		op = scalarOp()
	case "load":
		if flags.NArg() < 1 {
			fmt.Fprintln(os.Stderr, "load needs a directory")
			os.Exit(2)
		}
		op = loadOp(flags.Arg(0), flags.Args()[1:], *registry, *cacheDir, modules)
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
		os.Exit(2)
	}
	for i := 0; i < *warmup; i++ {
		check(op())
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := 0; i < *n; i++ {
		check(op())
	}
	elapsed := time.Since(start)
	pprof.StopCPUProfile()
	runtime.ReadMemStats(&after)
	out := map[string]any{
		"mode":          mode,
		"ops":           *n,
		"ns_per_op":     float64(elapsed.Nanoseconds()) / float64(*n),
		"bytes_per_op":  float64(after.TotalAlloc-before.TotalAlloc) / float64(*n),
		"allocs_per_op": float64(after.Mallocs-before.Mallocs) / float64(*n),
		"cue_version":   cueVersion(),
	}
	check(json.NewEncoder(os.Stdout).Encode(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// scalarOp looks up one string field by path and decodes it, as
// Value.lookup(path).to_python() does in cuepy.
func scalarOp() func() error {
	v := cuecontext.New().CompileString(`a: b: {c: "hello", d: 42}`)
	var sink string
	return func() error {
		s, err := v.LookupPath(cue.ParsePath("a.b.c")).String()
		sink = s
		_ = sink
		return err
	}
}

// loadOp loads the files of dir (the package if none) in a fresh context
// and extracts the whole value as JSON, as cuepy.load + extract does.
func loadOp(dir string, files []string, registry, cacheDir string, modules moduleFlag) func() error {
	args := files
	if len(args) == 0 {
		args = []string{"."}
	}
	var env []string
	if registry != "" {
		env = append(os.Environ(), "CUE_REGISTRY="+registry, "CUE_CACHE_DIR="+cacheDir)
	}
	next := &modconfig.LazyRegistry{New: func() (modconfig.CachedRegistry, error) {
		return modconfig.NewRegistry(&modconfig.Config{Env: env})
	}}
	reg := &localmod.Registry{Modules: modules, Next: next}
	return func() error {
		insts := load.Instances(args, &load.Config{Dir: dir, Registry: reg})
		if err := insts[0].Err; err != nil {
			return err
		}
		v := cuecontext.New().BuildInstance(insts[0])
		_, err := v.MarshalJSON()
		return err
	}
}

func cueVersion() string {
	if info, ok := readBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "cuelang.org/go" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
