package main

// #include "cuepy.h"
import "C"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"

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

// verify evaluates the package as written and as rewritten and returns the
// rewritten package's value and the paths of the flattened structs whose
// values differ, with why.
func verify(cfg *flattenConfig, res *flatten.Result) (cue.Value, map[string]string, error) {
	// Two contexts: the rewritten value is handed out and must not keep the
	// evaluation of the module as written alive.
	inst, err := loadInstance(&cfg.loadConfig)
	if err != nil {
		return cue.Value{}, nil, err
	}
	before := cuecontext.New().BuildInstance(inst)
	if err := before.Err(); err != nil {
		return cue.Value{}, nil, withCategory(catEval, err)
	}
	if err := before.Validate(); err != nil { // an error anywhere in the module is the user's
		return cue.Value{}, nil, withCategory(catEval, err)
	}
	flat := cfg.loadConfig
	flat.Overlay = map[string]string{}
	for k, v := range cfg.Overlay {
		flat.Overlay[k] = v
	}
	for _, f := range res.Files {
		if f.Changed {
			flat.Overlay[f.Name] = f.Source
		}
	}
	differ := map[string]string{}
	giveUp := func(why string) (cue.Value, map[string]string, error) {
		for _, c := range res.Components {
			if c.Flattened {
				differ[c.Path] = why
			}
		}
		return cue.Value{}, differ, nil
	}
	flatInst, err := loadInstance(&flat)
	if err != nil {
		return giveUp("the rewritten files do not load: " + err.Error())
	}
	after := cuecontext.New().BuildInstance(flatInst)
	if err := after.Err(); err != nil {
		return giveUp("the rewritten files do not evaluate: " + err.Error())
	}
	for _, c := range res.Components {
		if !c.Flattened {
			continue
		}
		p := cue.ParsePath(c.Path)
		if p.Err() != nil {
			return giveUp(fmt.Sprintf("the path of %s:%d is not known", c.File, c.Line))
		}
		if !sameValue(before.LookupPath(p), after.LookupPath(p)) {
			differ[c.Path] = "its value differs once written out"
		}
	}
	return after, differ, nil
}

// sameValue compares a and b as evaluated: the same regular fields, in
// depth, with the same kinds and leaves that print the same; the same
// definition and optional fields, by their labels.
// (Subsumption cannot compare the incomplete validators of a schema, and a
// struct's syntax shows its conjuncts rather than their result.)
func sameValue(a, b cue.Value) bool {
	where := difference(a, b, "", 0)
	if where != "" && os.Getenv("CUEPY_FLATTEN_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "flatten: values differ at %s\n", where)
	}
	return where == ""
}

const maxCompareDepth = 100

func difference(a, b cue.Value, at string, depth int) string {
	if depth > maxCompareDepth {
		return ""
	}
	if a.IncompleteKind() != b.IncompleteKind() || (a.Err() == nil) != (b.Err() == nil) {
		return at
	}
	switch a.IncompleteKind() {
	case cue.StructKind:
		fa, fb := fieldsOf(a), fieldsOf(b)
		if len(fa) != len(fb) {
			return at
		}
		for label, va := range fa {
			vb, ok := fb[label]
			if !ok {
				return at + "." + label
			}
			if strings.HasPrefix(label, "#") || strings.HasSuffix(label, "?") {
				// A definition field (#resources, a schema) or an optional
				// one holds the catalog's schema, referred to the same way
				// on both sides; its labels are compared, not its whole
				// value, which would cost several times the evaluation.
				if !sameLabels(va, vb) {
					return at + "." + label
				}
				continue
			}
			if d := difference(va, vb, at+"."+label, depth+1); d != "" {
				return d
			}
		}
		return ""
	case cue.ListKind:
		la, lb := elementsOf(a), elementsOf(b)
		if len(la) != len(lb) {
			return at
		}
		for i := range la {
			if d := difference(la[i], lb[i], fmt.Sprintf("%s[%d]", at, i), depth+1); d != "" {
				return d
			}
		}
		return ""
	}
	if a.IsConcrete() && b.IsConcrete() {
		if a.Equals(b) {
			return ""
		}
		return at
	}
	pa, errA := format.Node(a.Syntax(cue.Raw()))
	pb, errB := format.Node(b.Syntax(cue.Raw()))
	if errA != nil || errB != nil || !bytes.Equal(pa, pb) {
		return at
	}
	return ""
}

// sameLabels: the same kind and, for structs, the same labels.
func sameLabels(a, b cue.Value) bool {
	if a.IncompleteKind() != b.IncompleteKind() {
		return false
	}
	if a.IncompleteKind() != cue.StructKind {
		return true
	}
	fa, fb := fieldsOf(a), fieldsOf(b)
	if len(fa) != len(fb) {
		return false
	}
	for label := range fa {
		if _, ok := fb[label]; !ok {
			return false
		}
	}
	return true
}

func fieldsOf(v cue.Value) map[string]cue.Value {
	out := map[string]cue.Value{}
	it, err := v.Fields(cue.Definitions(true), cue.Optional(true))
	if err != nil {
		return out
	}
	for it.Next() {
		out[it.Selector().String()] = it.Value()
	}
	return out
}

func elementsOf(v cue.Value) []cue.Value {
	var out []cue.Value
	it, err := v.List()
	if err != nil {
		return nil
	}
	for it.Next() {
		out = append(out, it.Value())
	}
	return out
}
