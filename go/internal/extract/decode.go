package extract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"

	"cuepy.dev/libcue/internal/cueerr"
)

// bytesKey tags a bytes value in the JSON that Decode produces, as an
// object {"\u0000bytes": base64}; no CUE label a user writes contains NUL
// in practice, and the caller only looks for it when the form is
// FormJSONBytes (the decoder saw a bytes value).
const bytesKey = "\x00bytes"

// Form is how Decode wrote a value (cuepy.h's CUE_DECODED_*).
type Form int

const (
	FormJSON      Form = iota // JSON
	FormJSONBytes             // JSON with {"\u0000bytes": base64} objects for bytes
	FormString                // one string, raw UTF-8
	FormInt                   // one integer, in decimal
	FormBytes                 // one bytes value, raw
)

// Decode writes v (its default, if it has one) for the Python side: a
// string, an integer or bytes as such, anything else as JSON, keeping
// integers exact and marking bytes.
func Decode(v cue.Value) ([]byte, Form, error) {
	if dv, ok := v.Default(); ok {
		v = dv
	}
	switch v.Kind() {
	case cue.StringKind:
		s, err := v.String()
		if err == nil {
			return []byte(s), FormString, nil
		}
	case cue.IntKind:
		text, err := intText(v)
		if err == nil {
			return text, FormInt, nil
		}
	case cue.BytesKind:
		b, err := v.Bytes()
		if err == nil {
			return b, FormBytes, nil
		}
	}
	d := &decoder{}
	if err := d.decode(v); err != nil {
		return nil, 0, err
	}
	form := FormJSON
	if d.hasBytes {
		form = FormJSONBytes
	}
	return d.buf, form, nil
}

// decoder writes a concrete value as JSON for the Python side, keeping
// integers exact and marking bytes.
type decoder struct {
	buf      []byte
	hasBytes bool
}

func (d *decoder) decode(v cue.Value) error {
	if dv, ok := v.Default(); ok {
		v = dv
	}
	if err := v.Err(); err != nil {
		return classify(v, err) // as Validate: a non-concrete failure is incomplete
	}
	switch v.Kind() {
	case cue.NullKind:
		d.buf = append(d.buf, "null"...)
	case cue.BoolKind:
		b, _ := v.Bool()
		d.buf = strconv.AppendBool(d.buf, b)
	case cue.IntKind:
		return d.int(v)
	case cue.FloatKind:
		return d.float(v)
	case cue.StringKind:
		s, _ := v.String()
		d.str(s)
	case cue.BytesKind:
		b, _ := v.Bytes()
		d.hasBytes = true
		d.buf = append(d.buf, `{"\u0000bytes":"`...)
		d.buf = base64.StdEncoding.AppendEncode(d.buf, b)
		d.buf = append(d.buf, `"}`...)
	case cue.StructKind:
		return d.structure(v)
	case cue.ListKind:
		return d.list(v)
	default:
		return incomplete(v)
	}
	return nil
}

func (d *decoder) int(v cue.Value) error {
	text, err := intText(v)
	if err != nil {
		return err
	}
	d.buf = append(d.buf, text...)
	return nil
}

// intText writes an integer in plain decimal. CUE computes with 34 digits,
// so a large product can carry an exponent ("4.82E+60"), on which
// Value.Int panics; such integers are spelled out from their decimal text.
func intText(v cue.Value) ([]byte, error) {
	if i, err := v.Int64(); err == nil {
		return strconv.AppendInt(nil, i, 10), nil
	}
	text, err := v.MarshalJSON()
	if err != nil {
		return nil, cueerr.WithCategory(cueerr.Eval, err)
	}
	mantissa, exp, _ := strings.Cut(strings.ToLower(string(text)), "e")
	whole, frac, _ := strings.Cut(mantissa, ".")
	shift := 0
	if exp != "" {
		if shift, err = strconv.Atoi(exp); err != nil {
			return nil, cueerr.WithCategory(cueerr.Eval, err)
		}
	}
	digits := whole + frac
	shift -= len(frac)
	if shift < 0 {
		cut := len(digits) + shift
		if cut < 0 || strings.Trim(digits[max(cut, 0):], "0") != "" {
			return nil, cueerr.WithCategory(cueerr.Eval, cueerrors.Newf(v.Pos(), "%s: integer %s has a fraction", v.Path(), text))
		}
		digits = digits[:cut]
	}
	return []byte(digits + strings.Repeat("0", max(shift, 0))), nil
}

func (d *decoder) float(v cue.Value) error {
	text, err := v.MarshalJSON()
	if err != nil {
		return cueerr.WithCategory(cueerr.Eval, err)
	}
	// CUE's decimals reach far beyond a 64-bit float: Python would read
	// 1e400 as inf and 1e-400 as 0.0, silently.
	if _, err := v.Float64(); err != nil {
		return cueerr.WithCategory(cueerr.Limit, cueerrors.Newf(v.Pos(),
			"%s: float %s is out of the range of a 64-bit float (export it as JSON or CUE text to keep it)", v.Path(), text))
	}
	d.buf = append(d.buf, text...)
	if !bytes.ContainsAny(text, ".eE") {
		d.buf = append(d.buf, ".0"...)
	}
	return nil
}

func (d *decoder) str(s string) {
	data, _ := json.Marshal(s)
	d.buf = append(d.buf, data...)
}

func (d *decoder) structure(v cue.Value) error {
	iter, err := v.Fields()
	if err != nil {
		return cueerr.WithCategory(cueerr.Eval, err)
	}
	d.buf = append(d.buf, '{')
	for first := true; iter.Next(); first = false {
		if !first {
			d.buf = append(d.buf, ',')
		}
		label := iter.Selector().Unquoted()
		d.str(label)
		d.buf = append(d.buf, ':')
		start := len(d.buf)
		if err := d.decode(iter.Value()); err != nil {
			return err
		}
		if end := len(d.buf); label == bytesKey {
			// A field of the user's named like the bytes marker is written
			// twice, so that the reader, which sees each pair, can tell the
			// struct {"\u0000bytes": "..."} from a bytes value.
			d.buf = append(d.buf, ',')
			d.str(label)
			d.buf = append(d.buf, ':')
			d.buf = append(d.buf, d.buf[start:end]...)
		}
	}
	d.buf = append(d.buf, '}')
	return nil
}

func (d *decoder) list(v cue.Value) error {
	iter, err := v.List()
	if err != nil {
		return cueerr.WithCategory(cueerr.Eval, err)
	}
	d.buf = append(d.buf, '[')
	for first := true; iter.Next(); first = false {
		if !first {
			d.buf = append(d.buf, ',')
		}
		if err := d.decode(iter.Value()); err != nil {
			return err
		}
	}
	d.buf = append(d.buf, ']')
	return nil
}

// incomplete reports v as not concrete, in CUE's own words where it has
// them, with the value's path and position.
func incomplete(v cue.Value) error {
	err := v.Validate(cue.Concrete(true))
	if err == nil {
		err = cueerrors.Newf(v.Pos(), "%s: incomplete value %v", v.Path(), v)
	}
	return cueerr.WithCategory(cueerr.Incomplete, cueerr.Locate(v, err))
}

// classify tells an incomplete value from an invalid one after a failure
// that needed concrete data.
func classify(v cue.Value, err error) error {
	err = cueerr.Locate(v, err)
	if v.Validate() == nil {
		return cueerr.WithCategory(cueerr.Incomplete, err)
	}
	return cueerr.WithCategory(cueerr.Eval, err)
}
