package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/stop"
)

// fail turns err into an error handle (0 for nil).
func fail(err error) C.cue_handle {
	if err == nil {
		return 0
	}
	return newHandle(cueerr.NewReport(err))
}

// guard is deferred by every export: a panic becomes an error handle.
func guard(errh *C.cue_handle) {
	if r := recover(); r != nil {
		if s, ok := r.(cue.CuepyStop); ok { // an evaluation stopped on purpose
			*errh = fail(stop.Error(s))
			return
		}
		err := fmt.Errorf("internal error in libcuepy (recovered Go panic): %v\n%s", r, debug.Stack())
		*errh = fail(cueerr.WithCategory(cueerr.Internal, err))
	}
}

//export cue_error_take
func cue_error_take(h C.cue_handle, out *C.cue_bytes) {
	defer func() {
		if r := recover(); r != nil {
			putBytes(out, []byte(`{"category":"internal","text":"unreadable error","errors":[]}`), 0)
		}
	}()
	obj, err := resolve[*cueerr.Report](h, "error")
	if err != nil {
		obj = cueerr.NewReport(err)
	} else {
		_ = freeHandle(h)
	}
	data, jerr := json.Marshal(obj)
	if jerr != nil {
		panic(jerr)
	}
	putBytes(out, data, 0)
}
