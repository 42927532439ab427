package loader

import (
	"cuelang.org/go/cue"
	"cuelang.org/go/cue/parser"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/experiment"
	"cuepy.dev/libcue/internal/numbers"
)

// Compile parses and builds src; parse failures are syntax errors, failures
// of the built value are evaluation errors.
func Compile(ctx *cue.Context, src, filename string) (cue.Value, error) {
	if filename == "" {
		filename = "<source>"
	}
	f, err := parser.ParseFile(filename, src, parser.ParseComments)
	if err != nil {
		return cue.Value{}, cueerr.WithCategory(cueerr.Syntax, err)
	}
	if numbers.HasLongExponent(src) {
		if err := numbers.Check(f); err != nil {
			return cue.Value{}, err
		}
	}
	v := ctx.BuildFile(f)
	if err := cueerr.OfValue(v); err != nil { // every error, as `cue eval`
		return cue.Value{}, err
	}
	return v, nil
}

// Evaluate is the value of the CUE expression expr in v's scope, as the
// cue command's -e flag evaluates one (cue.Scope, builtins such as strings
// found without an import, hidden labels of v's package): a parse failure
// is a syntax error placed in a file named filename ("--expression" for
// the cue command), any other failure an evaluation error (a reference to
// nothing: `reference "x" not found`).
func Evaluate(v cue.Value, expr, filename string) (cue.Value, error) {
	x, err := parser.ParseExpr(filename, expr)
	if err != nil {
		return cue.Value{}, cueerr.WithCategory(cueerr.Syntax, err)
	}
	if numbers.HasLongExponent(expr) {
		if err := numbers.Check(x); err != nil {
			return cue.Value{}, err
		}
	}
	opts := []cue.BuildOption{cue.Scope(v), cue.InferBuiltins(true)}
	if inst := v.BuildInstance(); inst != nil {
		opts = append(opts, cue.ImportPath(inst.ID()))
	}
	r := v.Context().BuildExpr(x, opts...)
	if err := cueerr.OfValue(r); err != nil {
		return cue.Value{}, err
	}
	return r, nil
}

// CheckExperiments refuses a CUE_EXPERIMENT the cue command refuses (the
// process's: the one CUE reads), before a context is made.
func CheckExperiments() error { return experiment.CheckProcess() }
