package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// Error categories; the Python side maps each to an exception class.
const (
	catSyntax     = "syntax"
	catLoad       = "load"
	catEval       = "eval"
	catIncomplete = "incomplete"
	catUsage      = "usage"
	catLimit      = "limit" // a value beyond what the caller's side can represent
	catInternal   = "internal"
)

type errorObj struct {
	Category string      `json:"category"`
	Text     string      `json:"text"`
	Errors   []errorItem `json:"errors"`
}

type errorItem struct {
	Message   string     `json:"message"`
	Path      []string   `json:"path"`
	Positions []position `json:"positions"`
}

type position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// categorized carries a category with a Go or CUE error.
type categorized struct {
	category string
	err      error
}

func (c *categorized) Error() string { return c.err.Error() }
func (c *categorized) Unwrap() error { return c.err }

func withCategory(category string, err error) error {
	if err == nil {
		return nil
	}
	var c *categorized
	if errors.As(err, &c) {
		return err
	}
	return &categorized{category: category, err: err}
}

func usageErrorf(format string, args ...any) error {
	return &categorized{category: catUsage, err: fmt.Errorf(format, args...)}
}

// newErrorObj flattens err into the list of CUE errors it holds, each with
// its message, path and source positions, in the order and words in which
// the cue command prints them (cueerrors.Print: sorted by position, then
// path, duplicates dropped; each message with the causes it wraps).
func newErrorObj(err error) *errorObj {
	category := catEval
	var c *categorized
	if errors.As(err, &c) {
		category, err = c.category, c.err
	}
	obj := &errorObj{Category: category, Text: cueerrors.Details(err, nil)}
	for _, e := range printed(err) {
		message := errorMessage(e)
		if message == "" { // a plain Go error wrapped by CUE carries no message of its own
			message = e.Error()
		}
		item := errorItem{Message: message, Path: e.Path(), Positions: []position{}}
		if item.Path == nil {
			item.Path = []string{}
		}
		for _, p := range cueerrors.Positions(e) {
			if p.IsValid() {
				item.Positions = append(item.Positions, position{File: p.Filename(), Line: p.Line(), Column: p.Column()})
			}
		}
		obj.Errors = append(obj.Errors, item)
	}
	if len(obj.Errors) == 0 {
		obj.Errors = []errorItem{{Message: err.Error(), Path: []string{}, Positions: []position{}}}
	}
	return obj
}

// printed lists the errors of err as cueerrors.Print prints them.
func printed(err error) []cueerrors.Error {
	var all cueerrors.Error
	for _, e := range cueerrors.Errors(err) {
		all = cueerrors.Append(all, e)
	}
	return cueerrors.Errors(cueerrors.Sanitize(all))
}

// errorMessage is what the cue command prints for e after its path: the
// message and each cause it wraps, joined by ": " (cueerrors' writeErr).
func errorMessage(e cueerrors.Error) string {
	var b strings.Builder
	var err error = e
	for {
		ce, ok := err.(cueerrors.Error)
		if !ok {
			b.WriteString(err.Error())
			break
		}
		format, args := ce.Msg()
		n, _ := fmt.Fprintf(&b, format, args...)
		u := errors.Unwrap(ce)
		if u == nil {
			break
		}
		if n > 0 {
			b.WriteString(": ")
		}
		err = u
	}
	return b.String()
}

// valueErr is the error of a value just built, unified or filled: nil if
// it has none, else every error CUE finds in it (as `cue eval` reports them:
// Value.Err says whether there is one, Validate collects them all). A value
// whose only errors are incomplete ones is not an error (`cue eval` and
// `cue vet -c=false` accept it).
func valueErr(v cue.Value) error {
	err := v.Err()
	if err == nil {
		return nil
	}
	if verr := v.Validate(); verr != nil {
		return withCategory(catEval, verr)
	}
	if v.Validate(cue.Concrete(true)) == nil {
		return withCategory(catEval, err) // no error left to say it: keep Err's
	}
	return nil
}

// fail turns err into an error handle (0 for nil).
func fail(err error) C.cue_handle {
	if err == nil {
		return 0
	}
	return newHandle(newErrorObj(err))
}

// guard is deferred by every export: a panic becomes an error handle.
func guard(errh *C.cue_handle) {
	if r := recover(); r != nil {
		err := fmt.Errorf("internal error in libcuepy (recovered Go panic): %v\n%s", r, debug.Stack())
		*errh = fail(withCategory(catInternal, err))
	}
}

//export cue_error_take
func cue_error_take(h C.cue_handle, out *C.cue_bytes) {
	defer func() {
		if r := recover(); r != nil {
			putBytes(out, []byte(`{"category":"internal","text":"unreadable error","errors":[]}`), 0)
		}
	}()
	obj, err := resolve[*errorObj](h, "error")
	if err != nil {
		obj = newErrorObj(err)
	} else {
		_ = freeHandle(h)
	}
	data, jerr := json.Marshal(obj)
	if jerr != nil {
		panic(jerr)
	}
	putBytes(out, data, 0)
}
