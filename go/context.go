package main

// #include "cuepy.h"
import "C"

import (
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"cuepy.dev/libcue/internal/loader"
)

// newContextMu serialises context creation, which CUE does not document
// as safe for concurrent use.
var newContextMu sync.Mutex

//export cue_abi_version
func cue_abi_version() C.int32_t {
	defer func() { _ = recover() }()
	return C.CUEPY_ABI_VERSION
}

//export cue_version
func cue_version() (version *C.char) {
	defer func() { _ = recover() }() // (a panic returns NULL)
	return cBytes([]byte(cueVersion()), nil)
}

// cueVersion is the version of cuelang.org/go linked into this library
// (cmd/cuepatch's copy of it).
func cueVersion() string { return cue.CuepyVersion }

//export cue_context_new
func cue_context_new(out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	if err := loader.CheckExperiments(); err != nil {
		return fail(err)
	}
	newContextMu.Lock()
	defer newContextMu.Unlock()
	*out = newHandle(&contextObj{ctx: cuecontext.New()})
	return 0
}

//export cue_context_check
func cue_context_check(h C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	_, err := contextOf(h)
	return fail(err)
}

//export cue_value_context
func cue_value_context(vh C.cue_handle, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	obj, err := valueObjOf(vh)
	if err != nil {
		return fail(err)
	}
	*out = newHandle(&contextObj{ctx: obj.v.Context()})
	return 0
}

//export cue_compile
func cue_compile(ctxh C.cue_handle, src *C.char, n C.size_t, filename *C.char, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	ctx, release, err := heldContext(ctxh)
	if err != nil {
		return fail(err)
	}
	defer release()
	v, err := loader.Compile(ctx, goString(src, n), C.GoString(filename))
	if err != nil {
		return fail(err)
	}
	*out = newValue(v, nil)
	return 0
}

//export cue_evaluate
func cue_evaluate(vh C.cue_handle, expr *C.char, n C.size_t, filename *C.char, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	r, err := loader.Evaluate(obj.v, goString(expr, n), C.GoString(filename))
	if err != nil {
		return fail(err)
	}
	*out = newValue(r, obj.locks)
	return 0
}
