package flatten

import (
	"path/filepath"
	"testing"

	"cuelang.org/go/cue/cuecontext"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/loader"
	"cuepy.dev/libcue/internal/localmod"
)

// exampleConfig loads cuepy's example module name against the catalog
// cuepy ships, both from this checkout.
func exampleConfig(b *testing.B, name string) *Config {
	root, err := filepath.Abs(filepath.Join("..", "..", "..", "cuepy"))
	if err != nil {
		b.Fatal(err)
	}
	return &Config{
		Config: loader.Config{
			Dir:     filepath.Join(root, "examples", name),
			Args:    []string{"module_definition.cue"},
			Modules: map[string]localmod.Module{"cuepy.dev/opm@v0": {Version: "v0.1.0", Dir: filepath.Join(root, "catalog")}},
			Env:     map[string]string{},
		},
		Verify: true,
	}
}

// A verified flatten of each example, against one load of its definition
// (what cuepy.load does: load, build, check). benchmarks/cold_bench.py
// gives their ratio, rounds interleaved; these split a flatten for pprof:
//
//	go test -modfile ../build/cuepatch/go.mod -run '^$' -bench . -cpuprofile cpu.out ./internal/flatten
func BenchmarkFlatten(b *testing.B) {
	for _, name := range []string{"simple", "large"} {
		cfg := exampleConfig(b, name)
		b.Run(name+"/flatten", func(b *testing.B) {
			for range b.N {
				if r, err := Package(cfg); err != nil || !r.Verified {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/definition", func(b *testing.B) {
			for range b.N {
				inst, err := loader.Instance(&cfg.Config)
				if err != nil {
					b.Fatal(err)
				}
				if err := cueerr.OfValue(cuecontext.New().BuildInstance(inst)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
