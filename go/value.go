package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"unsafe"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/extract"
	"cuepy.dev/libcue/internal/serial"
)

//export cue_unify
func cue_unify(hs *C.cue_handle, n C.size_t, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	if n == 0 || hs == nil {
		return fail(cueerr.Usagef("unify needs at least one value"))
	}
	objs, release, err := heldValues(unsafe.Slice(hs, int(n))...)
	if err != nil {
		return fail(err)
	}
	defer release()
	result := objs[0].v
	for _, obj := range objs[1:] {
		result = result.Unify(obj.v)
	}
	if err := cueerr.OfValue(result); err != nil {
		return fail(err)
	}
	*out = newValue(result, lockSets(objs))
	return 0
}

//export cue_fill
func cue_fill(vh C.cue_handle, path *C.char, xh C.cue_handle, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	p, err := extract.ParsePath(C.GoString(path))
	if err != nil {
		return fail(err)
	}
	objs, release, err := heldValues(vh, xh)
	if err != nil {
		return fail(err)
	}
	defer release()
	result := objs[0].v.FillPath(p, objs[1].v)
	if err := cueerr.OfValue(result); err != nil {
		return fail(err)
	}
	*out = newValue(result, lockSets(objs))
	return 0
}

//export cue_lookup
func cue_lookup(vh C.cue_handle, path *C.char, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	*out = 0
	p := C.GoString(path)
	if p == "" { // another handle on the same value, sharing what is known of it
		if obj.v.Exists() {
			*out = newHandle(&valueObj{v: obj.v, data: obj.data, locks: obj.locks})
		}
		return 0
	}
	found, err := extract.Lookup(obj.v, p)
	if err != nil {
		return fail(err)
	}
	if found.Exists() {
		*out = derivedValue(found, obj.locks)
	}
	return 0
}

//export cue_fields
func cue_fields(vh C.cue_handle, opts C.uint32_t, labelsJSON *C.cue_bytes, values *C.cue_handles) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	labels, vals, err := extract.Fields(obj.v, options(opts))
	if err != nil {
		return fail(err)
	}
	data, err := json.Marshal(labels)
	if err != nil {
		return fail(err)
	}
	hs := make([]C.cue_handle, len(vals))
	for i, fv := range vals {
		hs[i] = derivedValue(fv, obj.locks)
	}
	putBytes(labelsJSON, data, 0)
	putHandles(values, hs)
	return 0
}

//export cue_elements
func cue_elements(vh C.cue_handle, values *C.cue_handles) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	// The elements first, the handles after: a panic while iterating leaves no handle behind.
	elems, err := extract.Elements(obj.v)
	if err != nil {
		return fail(err)
	}
	hs := make([]C.cue_handle, len(elems))
	for i, e := range elems {
		hs[i] = derivedValue(e, obj.locks)
	}
	putHandles(values, hs)
	return 0
}

var kindBits = []struct {
	cue cue.Kind
	c   C.uint32_t
}{
	{cue.NullKind, C.CUE_KIND_NULL}, {cue.BoolKind, C.CUE_KIND_BOOL},
	{cue.IntKind, C.CUE_KIND_INT}, {cue.FloatKind, C.CUE_KIND_FLOAT},
	{cue.StringKind, C.CUE_KIND_STRING}, {cue.BytesKind, C.CUE_KIND_BYTES},
	{cue.StructKind, C.CUE_KIND_STRUCT}, {cue.ListKind, C.CUE_KIND_LIST},
}

func kindOf(k cue.Kind) C.uint32_t {
	var out C.uint32_t
	for _, b := range kindBits {
		if k&b.cue != 0 {
			out |= b.c
		}
	}
	return out
}

//export cue_kind
func cue_kind(vh C.cue_handle, kind, incompleteKind *C.uint32_t, concrete *C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	v := obj.v
	*kind, *incompleteKind = kindOf(v.Kind()), kindOf(v.IncompleteKind())
	*concrete = 0
	if v.IsConcrete() {
		*concrete = 1
	}
	return 0
}

//export cue_default
func cue_default(vh C.cue_handle, out *C.cue_handle, hasDefault *C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	d, ok := obj.v.Default()
	*hasDefault = 0
	if ok {
		*hasDefault = 1
	}
	*out = derivedValue(d, obj.locks)
	return 0
}

//export cue_source
func cue_source(vh C.cue_handle, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	info, err := extract.Source(obj.v)
	if err != nil {
		return fail(err)
	}
	data, err := json.Marshal(info)
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	return 0
}

//export cue_equal
func cue_equal(ah, bh C.cue_handle, equal *C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	return comparePair(ah, bh, equal, extract.Equal)
}

// comparePair resolves two value handles and stores whether same(a, b) in *out.
func comparePair(ah, bh C.cue_handle, out *C.int32_t, same func(a, b cue.Value) bool) C.cue_handle {
	objs, release, err := heldValues(ah, bh)
	if err != nil {
		return fail(err)
	}
	defer release()
	*out = 0
	if same(objs[0].v, objs[1].v) {
		*out = 1
	}
	return 0
}

//export cue_subsumes
func cue_subsumes(ah, bh C.cue_handle, subsumes *C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	return comparePair(ah, bh, subsumes, extract.Subsumes)
}

//export cue_context_id
func cue_context_id(h C.cue_handle, id *C.uint64_t) (errh C.cue_handle) {
	defer guard(&errh)
	obj, err := handleValue(h)
	if err != nil {
		return fail(err)
	}
	var ctx *cue.Context
	switch o := obj.(type) {
	case *valueObj:
		ctx = o.v.Context()
	case *contextObj:
		ctx = o.ctx
	default:
		return fail(cueerr.Usagef("handle %d is of kind %s, not a value or context", uint64(h), kindName(obj)))
	}
	*id = C.uint64_t(uintptr(unsafe.Pointer(ctx)))
	return 0
}

// lockSets is the locks of the values objs come from.
func lockSets(objs []*valueObj) serial.Set {
	var locks serial.Set
	for _, obj := range objs {
		locks = locks.Union(obj.locks)
	}
	return locks
}
