package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"

	"cuepy.dev/libcue/internal/flatten"
)

// flattenConfig is cue_load's configuration plus the flattener's switches.
type flattenConfig struct {
	loadConfig
	// Verify evaluates the package as written and as rewritten and keeps a
	// struct written out only where both give the same value.
	Verify bool `json:"verify"`
}

type flattenResult struct {
	*flatten.Result
	Verified bool `json:"verified"`
	// flat is the rewritten package as verification evaluated it.
	flat cue.Value
}

//export cue_flatten
func cue_flatten(cfgJSON *C.char, n C.size_t, out *C.cue_bytes, value *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	*value = 0
	var cfg flattenConfig
	if err := json.Unmarshal([]byte(goString(cfgJSON, n)), &cfg); err != nil {
		return fail(usageErrorf("invalid flatten configuration: %v", err))
	}
	res, err := flattenPackage(&cfg)
	if err != nil {
		return fail(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	if res.Verified {
		*value = newValue(res.flat)
	}
	return 0
}

func flattenPackage(cfg *flattenConfig) (*flattenResult, error) {
	res, err := rewrite(cfg, nil)
	if err != nil || !cfg.Verify {
		return &flattenResult{Result: res}, err
	}
	flat, differ, err := verify(cfg, res)
	if err != nil {
		return nil, err
	}
	if len(differ) > 0 {
		if res, err = rewrite(cfg, differ); err != nil {
			return nil, err
		}
		var again map[string]string
		if flat, again, err = verify(cfg, res); err != nil || len(again) > 0 {
			return nil, fmt.Errorf("flattening changed the module's value at %v even with those structs kept (%v)", again, err)
		}
	}
	return &flattenResult{Result: res, Verified: true, flat: flat}, nil
}

// rewrite loads the package's syntax and flattens it, keeping the structs
// at the paths in keep as written.
func rewrite(cfg *flattenConfig, keep map[string]string) (*flatten.Result, error) {
	inst, err := loadInstance(&cfg.loadConfig)
	if err != nil {
		return nil, err
	}
	return flatten.Files(inst, nil, keep)
}

// verify compares the package as written and as rewritten (flatten.Verify),
// loading each through cue_load's path; an evaluation error of the module as
// written is the user's.
func verify(cfg *flattenConfig, res *flatten.Result) (cue.Value, map[string]string, error) {
	load := func(overlay map[string]string) (*build.Instance, error) {
		c := cfg.loadConfig
		c.Overlay = maps.Clone(cfg.Overlay)
		if c.Overlay == nil {
			c.Overlay = map[string]string{}
		}
		maps.Copy(c.Overlay, overlay)
		return loadInstance(&c)
	}
	flat, differ, err := flatten.Verify(load, res)
	var written *flatten.ModuleError
	if errors.As(err, &written) {
		return cue.Value{}, nil, withCategory(catEval, written.Err)
	}
	return flat, differ, err
}
