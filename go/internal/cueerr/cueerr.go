// Package cueerr gives errors the category the Python side maps to an
// exception class, and reports an error as the cue command prints it: each
// CUE error with its message, path and source positions (Report). Package
// main serialises a Report into the error handle it hands to C.
package cueerr

import (
	"errors"
	"fmt"

	"cuelang.org/go/cue"
)

// Error categories; the Python side maps each to an exception class.
const (
	Syntax     = "syntax"
	Load       = "load"
	Eval       = "eval"
	Incomplete = "incomplete"
	Usage      = "usage"
	Limit      = "limit" // a bound: what the caller's side can represent, a stopped evaluation
	Internal   = "internal"
)

// categorized carries a category with a Go or CUE error.
type categorized struct {
	category string
	limit    string // which limit, for category Limit
	err      error
}

func (c *categorized) Error() string { return c.err.Error() }
func (c *categorized) Unwrap() error { return c.err }

// WithCategory gives err the category, unless it has one already (nil
// stays nil).
func WithCategory(category string, err error) error {
	if err == nil {
		return nil
	}
	var c *categorized
	if errors.As(err, &c) {
		return err
	}
	return &categorized{category: category, err: err}
}

// Limited is an error of category Limit naming the limit it reached.
func Limited(limit string, err error) error {
	return &categorized{category: Limit, limit: limit, err: err}
}

// Usagef is an error of category Usage: the caller asked for something
// that cannot be.
func Usagef(format string, args ...any) error {
	return &categorized{category: Usage, err: fmt.Errorf(format, args...)}
}

// OfValue is the error of a value just built, unified or filled: nil if
// it has none, else every error CUE finds in it (as `cue eval` reports them:
// Value.Err says whether there is one, Validate collects them all). A value
// whose only errors are incomplete ones is not an error (`cue eval` and
// `cue vet -c=false` accept it).
func OfValue(v cue.Value) error {
	err := v.Err()
	if err == nil {
		return nil
	}
	if verr := v.Validate(); verr != nil {
		return WithCategory(Eval, verr)
	}
	if v.Validate(cue.Concrete(true)) == nil {
		return WithCategory(Eval, err) // no error left to say it: keep Err's
	}
	return nil
}
