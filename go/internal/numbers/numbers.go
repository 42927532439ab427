// Package numbers finds the number literals CUE would read wrongly without
// an error: exponents beyond the range of its decimals.
package numbers

import (
	"github.com/cockroachdb/apd/v3"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/cueerr"
)

// Check reports the number literals of node that CUE would read
// wrongly, without an error: its decimals (apd) hold exponents within
// ±100000 only, and cue/literal drops the parse error, so that 1e-3240000
// and 0.1e-100000 read as 1 and 1e999999999999 as NaN (which export then
// writes as invalid JSON). Callers walk only sources with a long exponent.
func Check(node ast.Node) error {
	var errs cueerrors.Error
	ast.Walk(node, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || (lit.Kind != token.FLOAT && lit.Kind != token.INT) {
			return true
		}
		var info literal.NumInfo
		if literal.ParseNum(lit.Value, &info) != nil || info.Multiplier() != 0 {
			return true
		}
		if _, _, err := new(apd.Decimal).SetString(info.String()); err != nil {
			errs = cueerrors.Append(errs, cueerrors.Newf(lit.Pos(),
				"number %s is out of range: CUE numbers have exponents within ±100000", shorten(lit.Value)))
		}
		return true
	}, nil)
	if errs != nil {
		return cueerr.WithCategory(cueerr.Syntax, errs)
	}
	return nil
}

// HasLongExponent reports whether src may hold a number with an exponent of
// five digits or more (the only ones that can leave apd's range).
func HasLongExponent[T string | []byte](src T) bool {
	for i := 1; i < len(src); i++ {
		if c := src[i]; c != 'e' && c != 'E' {
			continue
		}
		if p := src[i-1]; (p < '0' || p > '9') && p != '.' && p != '_' {
			continue
		}
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		digits := 0
		for ; j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '_'); j++ {
			digits++
		}
		if digits >= 5 {
			return true
		}
	}
	return false
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-12:]
	}
	return s
}
