package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
	cueyaml "cuelang.org/go/encoding/yaml"

	"cuepy.dev/libcue/internal/cueerr"
)

// DataCheck remembers that a value passed checkData. A cue.Value is
// immutable, so the verdict holds for every later export of it: the handles
// on one value (a module a cache keeps and hands out again) share one
// DataCheck, and only the first export of it walks the whole value (its
// definitions included, as `cue export` does). A failed check is not kept:
// it is taken again, to report the errors again.
type DataCheck struct{ passed atomic.Bool }

// check is checkData, skipped once v passed it.
func (c *DataCheck) check(v cue.Value) error {
	if c.passed.Load() {
		return nil
	}
	if err := checkData(v); err != nil {
		return err
	}
	c.passed.Store(true)
	return nil
}

// checkData checks v as `cue export` does before it writes data
// (internal/encoding: Validate(cue.Concrete(true))), so that errors name
// the data's paths, in CUE's words, all of them.
func checkData(v cue.Value) error {
	if err := v.Validate(cue.Concrete(true)); err != nil {
		if v.Validate() == nil {
			return cueerr.WithCategory(cueerr.Incomplete, err)
		}
		return cueerr.WithCategory(cueerr.Eval, err)
	}
	return nil
}

// ExportJSON writes v as `cue export` does (encoding/json's Encoder, HTML
// not escaped); compact unless an indent is asked for (4: cue's bytes).
func ExportJSON(v cue.Value, o Options, c *DataCheck) ([]byte, error) {
	if err := c.check(v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	width := o.indentWidth(2)
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

// ExportYAML writes v as YAML (encoding/yaml), checked as ExportJSON checks it.
func ExportYAML(v cue.Value, c *DataCheck) ([]byte, error) {
	if err := c.check(v); err != nil {
		return nil, err
	}
	data, err := cueyaml.Encode(v)
	if err != nil {
		return nil, classify(v, err)
	}
	return data, nil
}

// ExportCUE writes v as CUE source. The options compose as the cue
// command's modes build them: final first (it hides definitions, hidden
// and optional fields), then the switches that show them again.
func ExportCUE(v cue.Value, o Options, c *DataCheck) ([]byte, error) {
	var syntaxOpts []cue.Option
	if o.Final {
		syntaxOpts = append(syntaxOpts, cue.Final())
	}
	syntaxOpts = append(syntaxOpts, o.fieldOptions()...)
	syntaxOpts = append(syntaxOpts,
		cue.Docs(o.Docs),
		cue.Attributes(o.Attributes))
	if o.Concrete {
		syntaxOpts = append(syntaxOpts, cue.Concrete(true))
		if err := c.check(v); err != nil {
			return nil, err
		}
	}
	node := filterSyntax(v.Syntax(syntaxOpts...), o)
	if s, ok := node.(*ast.StructLit); ok {
		node = &ast.File{Decls: s.Elts}
	}
	// Tabs and simplified labels as `cue export --out cue` / `cue def`; an
	// indent in spaces as `cue eval` (which does not simplify).
	formatOpts := []format.Option{format.Simplify()}
	if width := o.indentWidth(0); width > 0 {
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

// filterSyntax drops what the options leave out. Value.Syntax honours them
// only for final or concrete output; a schema keeps its source as written.
// Fields are dropped from the value's own structs (and the structs of its
// list elements), never from inside expressions: [...{c?: int}] keeps c?.
func filterSyntax(node ast.Node, o Options) ast.Node {
	keepDocs := o.Docs
	keepAttrs := o.Attributes
	f := fieldFilter{
		keepDefs:     o.Definitions,
		keepHidden:   o.Hidden,
		keepOptional: o.Optional,
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
