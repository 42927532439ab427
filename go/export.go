package main

// #include "cuepy.h"
import "C"

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// bytesKey tags a bytes value in the JSON that cue_decode produces, as an
// object {"\u0000bytes": base64}; no CUE label a user writes contains NUL
// in practice, and the caller only looks for it when the flags are
// CUE_DECODED_JSON_BYTES (the decoder saw a bytes value).
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
		data, err = exportYAML(v)
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

// indentWidth is the indent the options ask for: 0 for none, else spaces
// (CUE_OPT_INDENT_SHIFT), def when the width is not given.
func indentWidth(opts C.uint32_t, def int) int {
	if opts&C.CUE_OPT_INDENT == 0 {
		return 0
	}
	if w := int(opts>>C.CUE_OPT_INDENT_SHIFT) & 0xff; w > 0 {
		return w
	}
	return def
}

// checkData checks v as `cue export` does before it writes data
// (internal/encoding: Validate(cue.Concrete(true))), so that errors name
// the data's paths, in CUE's words, all of them.
func checkData(v cue.Value) error {
	if err := v.Validate(cue.Concrete(true)); err != nil {
		if v.Validate() == nil {
			return withCategory(catIncomplete, err)
		}
		return withCategory(catEval, err)
	}
	return nil
}

// exportJSON writes v as `cue export` does (encoding/json's Encoder, HTML
// not escaped); compact unless an indent is asked for (4: cue's bytes).
func exportJSON(v cue.Value, opts C.uint32_t) ([]byte, error) {
	if err := checkData(v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	width := indentWidth(opts, 2)
	if width > 0 {
		enc.SetIndent("", strings.Repeat(" ", width))
	}
	if err := enc.Encode(v); err != nil {
		var merr *json.MarshalerError
		if errors.As(err, &merr) {
			err = merr.Err
		}
		return nil, classify(v, err)
	}
	data := b.Bytes()
	if width == 0 {
		data = bytes.TrimSuffix(data, []byte("\n"))
	}
	return data, nil
}

func exportYAML(v cue.Value) ([]byte, error) {
	if err := checkData(v); err != nil {
		return nil, err
	}
	data, err := cueyaml.Encode(v)
	if err != nil {
		return nil, classify(v, err)
	}
	return data, nil
}

// exportCUE writes v as CUE source. The options compose as the cue
// command's modes build them: final first (it hides definitions, hidden
// and optional fields), then the switches that show them again.
func exportCUE(v cue.Value, opts C.uint32_t) ([]byte, error) {
	var syntaxOpts []cue.Option
	if opts&C.CUE_OPT_FINAL != 0 {
		syntaxOpts = append(syntaxOpts, cue.Final())
	}
	syntaxOpts = append(syntaxOpts, fieldOptions(opts)...)
	syntaxOpts = append(syntaxOpts,
		cue.Docs(opts&C.CUE_OPT_DOCS != 0),
		cue.Attributes(opts&C.CUE_OPT_ATTRIBUTES != 0))
	if opts&C.CUE_OPT_CONCRETE != 0 {
		syntaxOpts = append(syntaxOpts, cue.Concrete(true))
		if err := checkData(v); err != nil {
			return nil, err
		}
	}
	node := filterSyntax(v.Syntax(syntaxOpts...), opts)
	if s, ok := node.(*ast.StructLit); ok {
		node = &ast.File{Decls: s.Elts}
	}
	// Tabs and simplified labels as `cue export --out cue` / `cue def`; an
	// indent in spaces as `cue eval` (which does not simplify).
	formatOpts := []format.Option{format.Simplify()}
	if width := indentWidth(opts, 0); width > 0 {
		formatOpts = []format.Option{format.UseSpaces(width), format.TabIndent(false)}
	}
	data, err := format.Node(node, formatOpts...)
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
		// As `cue vet` prints them: no positions added (classify's locate).
		if opts&C.CUE_OPT_CONCRETE != 0 && v.Validate() == nil {
			return fail(withCategory(catIncomplete, err))
		}
		return fail(withCategory(catEval, err))
	}
	return 0
}

// filterSyntax drops what the options leave out. Value.Syntax honours them
// only for final or concrete output; a schema keeps its source as written.
// Fields are dropped from the value's own structs (and the structs of its
// list elements), never from inside expressions: [...{c?: int}] keeps c?.
func filterSyntax(node ast.Node, opts C.uint32_t) ast.Node {
	keepDocs := opts&C.CUE_OPT_DOCS != 0
	keepAttrs := opts&C.CUE_OPT_ATTRIBUTES != 0
	f := fieldFilter{
		keepDefs:     opts&C.CUE_OPT_DEFINITIONS != 0,
		keepHidden:   opts&C.CUE_OPT_HIDDEN != 0,
		keepOptional: opts&C.CUE_OPT_OPTIONAL != 0,
	}
	if !keepDocs || !keepAttrs {
		ast.Walk(node, func(n ast.Node) bool {
			if !keepDocs {
				ast.SetComments(n, nil)
			}
			if field, ok := n.(*ast.Field); ok && !keepAttrs {
				field.Attrs = nil
			}
			return true
		}, nil)
	}
	if f.keepDefs && f.keepHidden && f.keepOptional {
		return node
	}
	switch x := node.(type) {
	case *ast.File:
		x.Decls = f.decls(x.Decls)
	case ast.Expr:
		f.expr(x)
	}
	return node
}

type fieldFilter struct{ keepDefs, keepHidden, keepOptional bool }

func (f fieldFilter) decls(decls []ast.Decl) []ast.Decl {
	out := decls[:0:0]
	for _, d := range decls {
		switch x := d.(type) {
		case *ast.Field:
			name, _, _ := ast.LabelName(x.Label)
			switch {
			case !f.keepDefs && strings.HasPrefix(name, "#"),
				!f.keepDefs && strings.HasPrefix(name, "_#"),
				!f.keepHidden && strings.HasPrefix(name, "_") && !strings.HasPrefix(name, "_#"),
				!f.keepOptional && x.Constraint == token.OPTION:
				continue
			}
			f.expr(x.Value)
		case *ast.EmbedDecl:
			f.expr(x.Expr)
		}
		out = append(out, d)
	}
	return out
}

// expr filters the structs that are the value itself: a struct literal,
// the elements of a list literal; other expressions are left as written.
func (f fieldFilter) expr(x ast.Expr) {
	switch x := x.(type) {
	case *ast.StructLit:
		x.Elts = f.decls(x.Elts)
	case *ast.ListLit:
		for _, e := range x.Elts {
			if _, ok := e.(*ast.Ellipsis); !ok {
				f.expr(e)
			}
		}
	case *ast.ParenExpr:
		f.expr(x.X)
	}
}
