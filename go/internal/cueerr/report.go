package cueerr

import (
	"errors"
	"fmt"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
)

// Report is an error as cue_error_take hands it to the caller, as JSON.
type Report struct {
	Category string `json:"category"`
	Limit    string `json:"limit,omitempty"` // which limit, for category Limit
	Text     string `json:"text"`
	Errors   []Item `json:"errors"`
}

// Item is one CUE error of a Report.
type Item struct {
	Message   string     `json:"message"`
	Path      []string   `json:"path"`
	Positions []Position `json:"positions"`
}

// Position is a source position of an Item.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// NewReport flattens err into the list of CUE errors it holds, each with
// its message, path and source positions, in the order and words in which
// the cue command prints them (cueerrors.Print: sorted by position, then
// path, duplicates dropped; each message with the causes it wraps). An
// error without a category is of category Eval.
func NewReport(err error) *Report {
	category := categoryOf(err)
	limit := ""
	var c *categorized
	if errors.As(err, &c) {
		err, limit = c.err, c.limit
	}
	if seq, ok := err.(Sequence); ok {
		obj := &Report{Category: category}
		for _, e := range seq {
			r := NewReport(e)
			obj.Text += r.Text
			obj.Errors = append(obj.Errors, r.Errors...)
		}
		return obj
	}
	obj := &Report{Category: category, Limit: limit, Text: cueerrors.Details(err, nil)}
	for _, e := range printed(err) {
		message := errorMessage(e)
		if message == "" { // a plain Go error wrapped by CUE carries no message of its own
			message = e.Error()
		}
		item := Item{Message: message, Path: e.Path(), Positions: []Position{}}
		if item.Path == nil {
			item.Path = []string{}
		}
		for _, p := range cueerrors.Positions(e) {
			if p.IsValid() { // (as the text prints it: a generated file's line names where it comes from)
				at := p.Position()
				item.Positions = append(item.Positions, Position{File: at.Filename, Line: at.Line, Column: at.Column})
			}
		}
		obj.Errors = append(obj.Errors, item)
	}
	if len(obj.Errors) == 0 {
		obj.Errors = []Item{{Message: err.Error(), Path: []string{}, Positions: []Position{}}}
	}
	return obj
}

// categoryOf is err's category (Eval when it has none).
func categoryOf(err error) string {
	var c *categorized
	if errors.As(err, &c) {
		return c.category
	}
	return Eval
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
