package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/loader"
)

//export cue_load
func cue_load(ctxh C.cue_handle, cfgJSON *C.char, n C.size_t, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg loader.Config
	if err := readConfig(cfgJSON, n, &cfg); err != nil {
		return fail(cueerr.Usagef("invalid load configuration: %v", err))
	}
	ctx, release, err := heldContext(ctxh)
	if err != nil {
		return fail(err)
	}
	defer release()
	v, err := loader.Load(ctx, &cfg)
	if err != nil {
		return fail(err)
	}
	*out = newValue(v, nil)
	return 0
}

//export cue_load_inputs
func cue_load_inputs(cfgJSON *C.char, n C.size_t, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg loader.Config
	if err := readConfig(cfgJSON, n, &cfg); err != nil {
		return fail(cueerr.Usagef("invalid load configuration: %v", err))
	}
	inputs, err := loader.ReadInputs(&cfg)
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

//export cue_vet
func cue_vet(ctxh C.cue_handle, cfgJSON *C.char, n C.size_t, concrete C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg loader.Config
	if err := readConfig(cfgJSON, n, &cfg); err != nil {
		return fail(cueerr.Usagef("invalid load configuration: %v", err))
	}
	ctx, release, err := heldContext(ctxh)
	if err != nil {
		return fail(err)
	}
	defer release()
	var c *bool
	if concrete >= 0 {
		on := concrete > 0
		c = &on
	}
	return fail(loader.Vet(ctx, &cfg, c))
}
