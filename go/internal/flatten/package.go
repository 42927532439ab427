package flatten

import (
	"errors"
	"fmt"
	"maps"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/loader"
)

// Config is cue_flatten's JSON document: cue_load's configuration plus the
// flattener's switches.
type Config struct {
	loader.Config
	// Verify evaluates the package as written and as rewritten and keeps a
	// struct written out only where both give the same value.
	Verify bool `json:"verify"`
}

// Report is what Package reports: the rewrite and whether it was verified.
type Report struct {
	*Result
	Verified bool `json:"verified"`
	// flat is the rewritten package as verification evaluated it.
	flat cue.Value
}

// Value is the rewritten package as verification evaluated it (when
// Verified).
func (r *Report) Value() cue.Value { return r.flat }

// Package loads the package cfg names and flattens it (Files); with
// cfg.Verify, it keeps as written the structs whose value the rewrite
// would change.
func Package(cfg *Config) (*Report, error) {
	var written *Written
	if cfg.Verify { // evaluated while the rewrite is made
		written = StartWritten(loaderOf(cfg))
	}
	res, err := rewrite(cfg, nil)
	if err != nil || !cfg.Verify {
		return &Report{Result: res}, err
	}
	flat, differ, err := verify(cfg, written, res)
	if err != nil {
		return nil, err
	}
	if len(differ) > 0 {
		if res, err = rewrite(cfg, differ); err != nil {
			return nil, err
		}
		var again map[string]string
		if flat, again, err = verify(cfg, written, res); err != nil || len(again) > 0 {
			return nil, fmt.Errorf("flattening changed the module's value at %v even with those structs kept (%v)", again, err)
		}
	}
	return &Report{Result: res, Verified: true, flat: flat}, nil
}

// rewrite loads the package's syntax and flattens it, keeping the structs
// at the paths in keep as written.
func rewrite(cfg *Config, keep map[string]string) (*Result, error) {
	inst, err := loader.Instance(&cfg.Config)
	if err != nil {
		return nil, err
	}
	return Files(inst, nil, keep)
}

// loaderOf loads the package cfg names through cue_load's path, with an
// overlay laid over cfg's.
func loaderOf(cfg *Config) Loader {
	return func(overlay map[string]string) (*build.Instance, error) {
		c := cfg.Config
		c.Overlay = maps.Clone(cfg.Overlay)
		if c.Overlay == nil {
			c.Overlay = map[string]string{}
		}
		maps.Copy(c.Overlay, overlay)
		return loader.Instance(&c)
	}
}

// verify compares the package as written (w) and as rewritten (Verify); an
// evaluation error of the module as written is the user's.
func verify(cfg *Config, w *Written, res *Result) (cue.Value, map[string]string, error) {
	flat, differ, err := Verify(loaderOf(cfg), w, res)
	var written *ModuleError
	if errors.As(err, &written) {
		return cue.Value{}, nil, cueerr.WithCategory(cueerr.Eval, written.Err)
	}
	return flat, differ, err
}
