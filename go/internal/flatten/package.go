package flatten

import (
	"errors"
	"fmt"

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

// Report is what Package reports: the rewrite, whether it was verified and
// what the load read.
type Report struct {
	*Result
	Verified bool `json:"verified"`
	// Inputs is what the package's load read (cue_load_inputs's listing).
	Inputs *loader.Inputs `json:"inputs"`
	// flat is the rewritten package as verification evaluated it.
	flat cue.Value
}

// Value is the rewritten package as verification evaluated it (when
// Verified).
func (r *Report) Value() cue.Value { return r.flat }

// Package loads the package cfg names and flattens it (Files); with
// cfg.Verify, it keeps as written the structs whose value the rewrite
// would change.
//
// The package is loaded once: the module as written is evaluated from that
// load while it is rewritten (the rewrite copies what it changes), and the
// rewritten module is built from it with the rewritten files parsed again.
func Package(cfg *Config) (*Report, error) {
	inst, err := loader.Instance(&cfg.Config)
	if err != nil {
		return nil, err
	}
	inputs, err := loader.InputsOf(inst, &cfg.Config)
	if err != nil {
		return nil, err
	}
	// As written, or with the rewritten files.
	load := func(rewritten []File) (*build.Instance, error) {
		if rewritten == nil {
			return inst, nil
		}
		return withSources(inst, rewritten)
	}
	var written *Written
	if cfg.Verify {
		written = StartWritten(load)
	}
	res, err := Files(inst, nil, nil)
	if err != nil || !cfg.Verify {
		return &Report{Result: res, Inputs: inputs}, err
	}
	flat, differ, err := verify(load, written, res)
	if err != nil {
		return nil, err
	}
	if len(differ) > 0 {
		if res, err = Files(inst, nil, differ); err != nil {
			return nil, err
		}
		var again map[string]string
		if flat, again, err = verify(load, written, res); err != nil || len(again) > 0 {
			return nil, fmt.Errorf("flattening changed the module's value at %v even with those structs kept (%v)", again, err)
		}
	}
	return &Report{Result: res, Verified: true, Inputs: inputs, flat: flat}, nil
}

// verify compares the package as written (w) and as rewritten (Verify); an
// evaluation error of the module as written is the user's.
func verify(load Loader, w *Written, res *Result) (cue.Value, map[string]string, error) {
	flat, differ, err := Verify(load, w, res)
	var written *ModuleError
	if errors.As(err, &written) {
		return cue.Value{}, nil, cueerr.WithCategory(cueerr.Eval, written.Err)
	}
	return flat, differ, err
}
