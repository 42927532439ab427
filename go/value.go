package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"strings"
	"sync"
	"unsafe"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/format"
)

// Parsing a path costs several times the lookup itself, and callers ask
// for the same few paths again and again, so parsed paths are kept; the
// cache is dropped whole when it grows past pathCacheSize.
const pathCacheSize = 4096

var (
	pathCacheMu sync.RWMutex
	pathCache   = map[string]cue.Path{}
)

func parsePath(s string) (cue.Path, error) {
	pathCacheMu.RLock()
	p, ok := pathCache[s]
	pathCacheMu.RUnlock()
	if ok {
		return p, nil
	}
	p = cue.ParsePath(s)
	if err := p.Err(); err != nil {
		return p, usageErrorf("invalid path %q: %v", s, err)
	}
	pathCacheMu.Lock()
	if len(pathCache) >= pathCacheSize {
		pathCache = map[string]cue.Path{}
	}
	pathCache[s] = p
	pathCacheMu.Unlock()
	return p, nil
}

//export cue_unify
func cue_unify(hs *C.cue_handle, n C.size_t, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	if n == 0 || hs == nil {
		return fail(usageErrorf("unify needs at least one value"))
	}
	var result cue.Value
	for i, h := range unsafe.Slice(hs, int(n)) {
		v, err := value(h)
		if err != nil {
			return fail(err)
		}
		if i == 0 {
			result = v
		} else {
			result = result.Unify(v)
		}
	}
	if err := result.Err(); err != nil {
		return fail(withCategory(catEval, err))
	}
	*out = newValue(result)
	return 0
}

//export cue_fill
func cue_fill(vh C.cue_handle, path *C.char, xh C.cue_handle, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	x, err := value(xh)
	if err != nil {
		return fail(err)
	}
	p, err := parsePath(C.GoString(path))
	if err != nil {
		return fail(err)
	}
	result := v.FillPath(p, x)
	if err := result.Err(); err != nil {
		return fail(withCategory(catEval, err))
	}
	*out = newValue(result)
	return 0
}

//export cue_lookup
func cue_lookup(vh C.cue_handle, path *C.char, out *C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	p, err := parsePath(C.GoString(path))
	if err != nil {
		return fail(err)
	}
	*out = 0
	if found := v.LookupPath(p); found.Exists() {
		*out = newValue(found)
	}
	return 0
}

func fieldOptions(opts C.uint32_t) []cue.Option {
	// Hidden comes first: cue.Hidden also sets whether definitions show.
	return []cue.Option{
		cue.Hidden(opts&C.CUE_OPT_HIDDEN != 0),
		cue.Definitions(opts&C.CUE_OPT_DEFINITIONS != 0),
		cue.Optional(opts&C.CUE_OPT_OPTIONAL != 0),
	}
}

//export cue_fields
func cue_fields(vh C.cue_handle, opts C.uint32_t, labelsJSON *C.cue_bytes, values *C.cue_handles) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	iter, err := v.Fields(fieldOptions(opts)...)
	if err != nil {
		return fail(withCategory(catEval, err))
	}
	labels := []string{}
	var vals []cue.Value
	for iter.Next() {
		labels = append(labels, label(iter.Selector()))
		vals = append(vals, iter.Value())
	}
	data, err := json.Marshal(labels)
	if err != nil {
		return fail(err)
	}
	hs := make([]C.cue_handle, len(vals))
	for i, fv := range vals {
		hs[i] = newValue(fv)
	}
	putBytes(labelsJSON, data, 0)
	putHandles(values, hs)
	return 0
}

// label is a field's name as a user writes it in a path: regular fields
// unquoted, definitions and hidden fields with their sigils, no "?" or "!".
func label(sel cue.Selector) string {
	if sel.LabelType() == cue.StringLabel {
		return sel.Unquoted()
	}
	return strings.TrimRight(sel.String(), "?!")
}

//export cue_elements
func cue_elements(vh C.cue_handle, values *C.cue_handles) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	iter, err := v.List()
	if err != nil {
		return fail(withCategory(catEval, err))
	}
	// The elements first, the handles after: a panic while iterating leaves no handle behind.
	var elems []cue.Value
	for iter.Next() {
		elems = append(elems, iter.Value())
	}
	hs := make([]C.cue_handle, len(elems))
	for i, e := range elems {
		hs[i] = newValue(e)
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
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
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
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	d, ok := v.Default()
	*hasDefault = 0
	if ok {
		*hasDefault = 1
	}
	*out = newValue(d)
	return 0
}

// sourceInfo locates a value's own source, for tools that rewrite it.
type sourceInfo struct {
	File   string `json:"file"`
	Offset int    `json:"offset"`
	End    int    `json:"end"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Text   string `json:"text"`
}

//export cue_source
func cue_source(vh C.cue_handle, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	info := sourceInfo{}
	if node := v.Source(); node != nil {
		text, err := format.Node(node)
		if err != nil {
			return fail(err)
		}
		start, end := node.Pos(), node.End()
		info = sourceInfo{Text: string(text), File: start.Filename(), Offset: start.Offset(), End: end.Offset(), Line: start.Line(), Column: start.Column()}
	}
	data, err := json.Marshal(info)
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	return 0
}
