package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/flatten"
)

//export cue_flatten
func cue_flatten(cfgJSON *C.char, n C.size_t, out *C.cue_bytes, value *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	*value = 0
	var cfg flatten.Config
	if err := readConfig(cfgJSON, n, &cfg); err != nil {
		return fail(cueerr.Usagef("invalid flatten configuration: %v", err))
	}
	res, err := flatten.Package(&cfg)
	if err != nil {
		return fail(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	if res.Verified {
		*value = newValue(res.Value(), nil)
	}
	return 0
}
