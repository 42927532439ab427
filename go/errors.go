package main

// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

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
// its message, path and source positions.
func newErrorObj(err error) *errorObj {
	category := catEval
	var c *categorized
	if errors.As(err, &c) {
		category, err = c.category, c.err
	}
	obj := &errorObj{Category: category, Text: cueerrors.Details(err, nil)}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		message := fmt.Sprintf(format, args...)
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
