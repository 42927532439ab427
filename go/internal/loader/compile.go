package loader

import (
	"cuelang.org/go/cue"
	"cuelang.org/go/cue/parser"

	"cuepy.dev/libcue/internal/cueerr"
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
