package main

// #include "cuepy.h"
import "C"

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// bytesKey tags a bytes value in the JSON that cue_decode produces, as an
// object {"\u0000bytes": base64}; no CUE label a user writes contains NUL
// in practice, and the caller only looks for it when has_bytes is set.
const bytesKey = "\x00bytes"

//export cue_decode
func cue_decode(vh C.cue_handle, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	if dv, ok := v.Default(); ok {
		v = dv
	}
	switch v.Kind() {
	case cue.StringKind:
		s, err := v.String()
		if err == nil {
			putBytes(out, []byte(s), C.CUE_DECODED_STRING)
			return 0
		}
	case cue.IntKind:
		text, err := intText(v)
		if err == nil {
			putBytes(out, text, C.CUE_DECODED_INT)
			return 0
		}
	case cue.BytesKind:
		b, err := v.Bytes()
		if err == nil {
			putBytes(out, b, C.CUE_DECODED_BYTES)
			return 0
		}
	}
	d := &decoder{}
	if err := d.decode(v); err != nil {
		return fail(err)
	}
	var flags C.uint32_t = C.CUE_DECODED_JSON
	if d.hasBytes {
		flags = C.CUE_DECODED_JSON_BYTES
	}
	putBytes(out, d.buf, flags)
	return 0
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
		return classify(v, err) // as cue_validate: a non-concrete failure is incomplete
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
		return nil, withCategory(catEval, err)
	}
	mantissa, exp, _ := strings.Cut(strings.ToLower(string(text)), "e")
	whole, frac, _ := strings.Cut(mantissa, ".")
	shift := 0
	if exp != "" {
		if shift, err = strconv.Atoi(exp); err != nil {
			return nil, withCategory(catEval, err)
		}
	}
	digits := whole + frac
	shift -= len(frac)
	if shift < 0 {
		cut := len(digits) + shift
		if cut < 0 || strings.Trim(digits[max(cut, 0):], "0") != "" {
			return nil, withCategory(catEval, cueerrors.Newf(v.Pos(), "%s: integer %s has a fraction", v.Path(), text))
		}
		digits = digits[:cut]
	}
	return []byte(digits + strings.Repeat("0", max(shift, 0))), nil
}

func (d *decoder) float(v cue.Value) error {
	text, err := v.MarshalJSON()
	if err != nil {
		return withCategory(catEval, err)
	}
	// CUE's decimals reach far beyond a 64-bit float: Python would read
	// 1e400 as inf and 1e-400 as 0.0, silently.
	if _, err := v.Float64(); err != nil {
		return withCategory(catLimit, cueerrors.Newf(v.Pos(),
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
		return withCategory(catEval, err)
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
		return withCategory(catEval, err)
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
	return withCategory(catIncomplete, locate(v, err))
}

// classify tells an incomplete value from an invalid one after a failure
// that needed concrete data.
func classify(v cue.Value, err error) error {
	err = locate(v, err)
	if v.Validate() == nil {
		return withCategory(catIncomplete, err)
	}
	return withCategory(catEval, err)
}

//export cue_export
func cue_export(vh C.cue_handle, formatID C.int32_t, opts C.uint32_t, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	var data []byte
	switch formatID {
	case C.CUE_FORMAT_JSON:
		data, err = exportJSON(v, opts)
	case C.CUE_FORMAT_YAML:
		data, err = cueyaml.Encode(v)
		if err != nil {
			// The YAML encoder names the node it cannot write, not where it
			// is; a concrete check says which field and where.
			if verr := v.Validate(cue.Concrete(true)); verr != nil {
				err = verr
			}
			err = classify(v, err)
		}
	case C.CUE_FORMAT_CUE:
		data, err = exportCUE(v, opts)
	default:
		err = usageErrorf("unknown export format %d", int(formatID))
	}
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	return 0
}

func exportJSON(v cue.Value, opts C.uint32_t) ([]byte, error) {
	data, err := v.MarshalJSON()
	if err != nil {
		return nil, classify(v, err)
	}
	if opts&C.CUE_OPT_INDENT != 0 {
		var b bytes.Buffer
		if err := json.Indent(&b, data, "", "  "); err != nil {
			return nil, err
		}
		b.WriteByte('\n')
		return b.Bytes(), nil
	}
	return data, nil
}

func exportCUE(v cue.Value, opts C.uint32_t) ([]byte, error) {
	syntaxOpts := append(fieldOptions(opts),
		cue.Docs(opts&C.CUE_OPT_DOCS != 0),
		cue.Attributes(opts&C.CUE_OPT_ATTRIBUTES != 0))
	if opts&C.CUE_OPT_FINAL != 0 {
		syntaxOpts = append(syntaxOpts, cue.Final())
	}
	if opts&C.CUE_OPT_CONCRETE != 0 {
		syntaxOpts = append(syntaxOpts, cue.Concrete(true))
		if err := v.Validate(cue.Concrete(true)); err != nil {
			return nil, classify(v, err)
		}
	}
	node := filterSyntax(v.Syntax(syntaxOpts...), opts)
	if s, ok := node.(*ast.StructLit); ok {
		node = &ast.File{Decls: s.Elts}
	}
	data, err := format.Node(node, format.Simplify())
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(string(data), "\n") {
		data = append(data, '\n')
	}
	return data, nil
}

//export cue_validate
func cue_validate(vh C.cue_handle, opts C.uint32_t) (errh C.cue_handle) {
	defer guard(&errh)
	v, err := value(vh)
	if err != nil {
		return fail(err)
	}
	validateOpts := append(fieldOptions(opts), cue.Concrete(opts&C.CUE_OPT_CONCRETE != 0))
	if opts&C.CUE_OPT_FINAL != 0 {
		validateOpts = append(validateOpts, cue.Final())
	}
	if opts&C.CUE_OPT_ALL_ERRORS != 0 {
		validateOpts = append(validateOpts, cue.All())
	}
	if err := v.Validate(validateOpts...); err != nil {
		return fail(classify(v, err))
	}
	return 0
}

// filterSyntax drops what the options leave out. Value.Syntax honours them
// only for final or concrete output; a schema keeps its source as written.
func filterSyntax(node ast.Node, opts C.uint32_t) ast.Node {
	keepDocs := opts&C.CUE_OPT_DOCS != 0
	keepAttrs := opts&C.CUE_OPT_ATTRIBUTES != 0
	keepDefs := opts&C.CUE_OPT_DEFINITIONS != 0
	keepHidden := opts&C.CUE_OPT_HIDDEN != 0
	keepOptional := opts&C.CUE_OPT_OPTIONAL != 0
	if keepDocs && keepAttrs && keepDefs && keepHidden && keepOptional {
		return node
	}
	return astutil.Apply(node, func(c astutil.Cursor) bool {
		n := c.Node()
		if !keepDocs {
			ast.SetComments(n, nil)
		}
		field, ok := n.(*ast.Field)
		if !ok {
			return true
		}
		name, _, _ := ast.LabelName(field.Label)
		switch {
		case !keepDefs && strings.HasPrefix(name, "#"),
			!keepDefs && strings.HasPrefix(name, "_#"),
			!keepHidden && strings.HasPrefix(name, "_") && !strings.HasPrefix(name, "_#"),
			!keepOptional && field.Constraint == token.OPTION:
			c.Delete()
			return false
		}
		if !keepAttrs {
			field.Attrs = nil
		}
		return true
	}, nil)
}
