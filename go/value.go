package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"strings"
	"sync"
	"unsafe"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
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
	if err := valueErr(result); err != nil {
		return fail(err)
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
	if err := valueErr(result); err != nil {
		return fail(err)
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
	*out = 0
	found, err := lookupPath(v, C.GoString(path))
	if err != nil {
		return fail(err)
	}
	if found.Exists() {
		*out = newValue(found)
	}
	return 0
}

// lookupPath finds path in v. cue.ParsePath refuses hidden labels (_a,
// _#A), which belong to a package; such a path is resolved label by label,
// a hidden label naming the field of that spelling in the value at hand
// (as `cue eval -e _a` finds it in the instance's scope).
func lookupPath(v cue.Value, s string) (cue.Value, error) {
	p, err := parsePath(s)
	if err == nil {
		return v.LookupPath(p), nil
	}
	labels, ok := pathLabels(s)
	if !ok {
		return cue.Value{}, err
	}
	cur := v
	for _, label := range labels {
		var sel cue.Selector
		if strings.HasPrefix(label, "_") {
			found := false
			iter, ierr := cur.Fields(cue.All())
			for ierr == nil && iter.Next() {
				if strings.TrimRight(iter.Selector().String(), "?!") == label {
					s := iter.Selector()
					sel, found = s, true
					break
				}
			}
			if !found {
				return cue.Value{}, nil
			}
		} else {
			lp, lerr := parsePath(label)
			if lerr != nil {
				return cue.Value{}, err
			}
			sel = lp.Selectors()[0]
		}
		cur = cur.LookupPath(cue.MakePath(sel))
		if !cur.Exists() {
			return cur, nil
		}
	}
	return cur, nil
}

// pathLabels splits a path such as a._b."c-d"[0] into its labels, each
// in path syntax (a, _b, "c-d", [0]); ok is false for anything else.
func pathLabels(s string) (labels []string, ok bool) {
	expr, err := parser.ParseExpr("path", s)
	if err != nil {
		return nil, false
	}
	var walk func(x ast.Expr) bool
	walk = func(x ast.Expr) bool {
		switch x := x.(type) {
		case *ast.Ident:
			labels = append(labels, x.Name)
		case *ast.SelectorExpr:
			if !walk(x.X) {
				return false
			}
			text, err := format.Node(x.Sel)
			if err != nil {
				return false
			}
			labels = append(labels, string(text))
		case *ast.IndexExpr:
			if !walk(x.X) {
				return false
			}
			text, err := format.Node(x.Index)
			if err != nil {
				return false
			}
			labels = append(labels, "["+string(text)+"]")
		case *ast.BasicLit:
			labels = append(labels, x.Value)
		default:
			return false
		}
		return true
	}
	if !walk(expr) {
		return nil, false
	}
	return labels, true
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

//export cue_equal
func cue_equal(ah, bh C.cue_handle, equal *C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	return comparePair(ah, bh, equal, valuesEqual)
}

// comparePair resolves two value handles and stores whether same(a, b) in *out.
func comparePair(ah, bh C.cue_handle, out *C.int32_t, same func(a, b cue.Value) bool) C.cue_handle {
	a, err := value(ah)
	if err != nil {
		return fail(err)
	}
	b, err := value(bh)
	if err != nil {
		return fail(err)
	}
	*out = 0
	if same(a, b) {
		*out = 1
	}
	return 0
}

// valuesEqual is cuepy's Value.__eq__: two concrete values are equal when
// CUE's Equals says so (optional fields ignored); otherwise each must
// subsume the other (the same constraint, such as int and int, or >1 and >1).
func valuesEqual(a, b cue.Value) bool {
	if concreteData(a) && concreteData(b) {
		return a.Equals(b)
	}
	return a.Subsume(b) == nil && b.Subsume(a) == nil
}

func concreteData(v cue.Value) bool {
	return v.Validate(cue.Concrete(true)) == nil
}

//export cue_subsumes
func cue_subsumes(ah, bh C.cue_handle, subsumes *C.int32_t) (errh C.cue_handle) {
	defer guard(&errh)
	return comparePair(ah, bh, subsumes, func(a, b cue.Value) bool { return a.Subsume(b) == nil })
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
		return fail(usageErrorf("handle %d is of kind %s, not a value or context", uint64(h), kindName(obj)))
	}
	*id = C.uint64_t(uintptr(unsafe.Pointer(ctx)))
	return 0
}
