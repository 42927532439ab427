package loader

// The files a load names, combined as the cue command combines them
// (cmd/cue/cmd/common.go, parseArgs): the package (or the CUE files named)
// is the schema; JSON and YAML files are data, each document of a YAML
// stream a value of its own; a data file that is a JSON Schema or an
// OpenAPI document (auto interpretation: detected from its content) is
// translated to CUE and joins the schema, unless no other data is named,
// in which case it is the data.
//
// `cue export` and `cue eval` merge the data into one value (Load);
// `cue vet` checks each data document against the schema on its own (Vet).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/build"
	cuejson "cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/jsonschema"
	"cuelang.org/go/encoding/openapi"
	cueyaml "cuelang.org/go/encoding/yaml"

	"cuepy.dev/libcue/internal/confine"
	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/numbers"
)

// dataFile is a JSON or YAML file named in a load: its documents, each
// already interpreted.
type dataFile struct {
	name string
	docs []*ast.File
	// schema: its (first) document is a JSON Schema or OpenAPI document.
	schema bool
}

// plan is what a load's arguments name, sorted as the cue command sorts
// them.
type plan struct {
	ctx *cue.Context
	// base is the schema: the package, or the CUE files named together
	// with the schema files; nil when it would have no files.
	base *build.Instance
	// files is the instance cue/load made of the files named (nil when only
	// a package is named); the data documents are added to it to build them.
	files *build.Instance
	data  []*dataFile
}

func loadErrorf(format string, args ...any) error {
	return cueerr.WithCategory(cueerr.Load, fmt.Errorf(format, args...))
}

func newPlan(ctx *cue.Context, cfg *Config) (*plan, error) {
	insts, err := instances(cfg)
	if err != nil {
		return nil, err
	}
	var pkgs []*build.Instance
	var files *build.Instance
	for _, b := range insts {
		switch {
		case !b.User:
			pkgs = append(pkgs, b)
		case files != nil:
			return nil, loadErrorf("builds contain two file packages")
		default:
			files = b
		}
	}
	p := &plan{ctx: ctx, files: files}
	if files == nil {
		if len(pkgs) != 1 {
			return nil, loadErrorf("%v matched %d packages; name one with package=", loadArgs(cfg), len(pkgs))
		}
		p.base = pkgs[0]
		return p, nil
	}
	var schemas []*dataFile
	for _, f := range files.OrphanedFiles {
		d, err := decode(ctx, f, cfg.guard)
		if err != nil {
			return nil, err
		}
		if d.schema {
			schemas = append(schemas, d)
		} else {
			p.data = append(p.data, d)
		}
	}
	if len(p.data) == 0 { // schemas alone are the data
		p.data, schemas = schemas, nil
	}
	for _, s := range schemas {
		for _, doc := range s.docs {
			if err := files.AddSyntax(doc); err != nil {
				return nil, cueerr.WithCategory(cueerr.Load, err)
			}
		}
	}
	switch len(pkgs) {
	case 0:
		base := *files
		p.base = &base
		files.BuildFiles, files.Files = nil, nil
	case 1:
		if len(schemas) > 0 {
			return nil, loadErrorf("cannot combine packages with individual schema files")
		}
		p.base = pkgs[0]
	default:
		return nil, loadErrorf("too many packages defined (%d) in combination with files", len(pkgs))
	}
	if len(p.base.Files) == 0 {
		p.base = nil
	}
	return p, nil
}

// merged is the value `cue export` and `cue eval` evaluate: the data
// documents as one instance (checked on its own first), unified with the
// schema.
func (p *plan) merged() (cue.Value, error) {
	if p.files == nil {
		return p.ctx.BuildInstance(p.base), nil
	}
	for _, d := range p.data {
		for _, doc := range d.docs {
			if err := p.files.AddSyntax(doc); err != nil {
				return cue.Value{}, cueerr.WithCategory(cueerr.Load, err)
			}
		}
	}
	if len(p.files.Files) == 0 {
		if p.base != nil {
			return p.ctx.BuildInstance(p.base), nil
		}
		return p.ctx.BuildInstance(p.files), nil // nothing at all: an empty struct
	}
	v := p.ctx.BuildInstance(p.files)
	if err := v.Validate(); err != nil {
		return cue.Value{}, cueerr.WithCategory(cueerr.Eval, err)
	}
	if p.base != nil {
		v = v.Unify(p.ctx.BuildInstance(p.base))
	}
	return v, nil
}

// VetIncomplete is what `cue vet` says of a value that is valid but not
// concrete when -c is not given.
const VetIncomplete = "some instances are incomplete; use the -c flag to show errors or -c=false to allow incomplete instances"

// Vet checks what cfg names as `cue vet` does; concrete is nil for vet's
// default (concrete, else "some instances are incomplete" when only that
// fails), or the -c flag given. With data files named, each document is
// unified with the schema and checked for concrete values on its own (the
// flag changes nothing), and the errors of every document are reported
// one after another.
func Vet(ctx *cue.Context, cfg *Config, concrete *bool) error {
	p, err := newPlan(ctx, cfg)
	if err != nil {
		return err
	}
	if len(p.data) == 0 {
		v, err := p.merged()
		if err != nil {
			return err
		}
		return vetValue(v, concrete)
	}
	if p.base == nil {
		return cueerr.Usagef("data files specified without a schema")
	}
	schema := ctx.BuildInstance(p.base)
	var seq cueerr.Sequence
	for _, d := range p.data {
		for _, doc := range d.docs {
			v := ctx.BuildFile(doc)
			if err := v.Err(); err != nil {
				return seq.Then(cueerr.WithCategory(cueerr.Eval, err))
			}
			v = v.Unify(schema)
			if err := v.Err(); err != nil { // a conflict ends the check, as in cue
				if verr := v.Validate(); verr != nil {
					err = verr
				}
				return seq.Then(cueerr.WithCategory(cueerr.Eval, err))
			}
			if err := v.Validate(cue.Concrete(true)); err != nil {
				seq = append(seq, concreteError(v, err))
			}
		}
	}
	return seq.Err()
}

// vetValue is `cue vet` of one instance.
func vetValue(v cue.Value, concrete *bool) error {
	opts := []cue.Option{cue.Attributes(true), cue.Definitions(true), cue.Hidden(true)}
	c := concrete == nil || *concrete
	err := v.Validate(append(opts, cue.Concrete(c))...)
	if err == nil {
		return nil
	}
	lax := v.Validate(append(opts, cue.Concrete(false))...)
	if concrete == nil {
		if lax == nil {
			return cueerr.WithCategory(cueerr.Incomplete, errors.New(VetIncomplete))
		}
		return cueerr.WithCategory(cueerr.Eval, lax)
	}
	if lax == nil {
		return cueerr.WithCategory(cueerr.Incomplete, err)
	}
	return cueerr.WithCategory(cueerr.Eval, err)
}

func concreteError(v cue.Value, err error) error {
	if v.Validate() == nil {
		return cueerr.WithCategory(cueerr.Incomplete, err)
	}
	return cueerr.WithCategory(cueerr.Eval, err)
}

// decode reads a data file named in a load into its documents, each
// interpreted as the cue command's auto mode does when cue/load marks the
// file so (a .json, .yaml or .yml file).
func decode(ctx *cue.Context, f *build.File, guard *confine.FS) (*dataFile, error) {
	src, err := guard.ReadPath(f.Filename)
	if err != nil {
		return nil, cueerr.WithCategory(cueerr.Load, err)
	}
	if err := confine.CheckUTF8(f.Filename, src); err != nil { // the decoders say less, without a line
		return nil, err
	}
	var exprs []ast.Expr
	switch f.Encoding {
	case build.JSON:
		expr, err := cuejson.Extract(f.Filename, src)
		if err != nil {
			return nil, cueerr.WithCategory(cueerr.Syntax, err)
		}
		exprs = append(exprs, expr)
	case build.YAML:
		dec := cueyaml.NewDecoder(f.Filename, bytes.NewReader(src))
		for {
			expr, err := dec.Extract()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, cueerr.WithCategory(cueerr.Syntax, cueerr.YAML(f.Filename, src, err))
			}
			exprs = append(exprs, expr)
		}
	default:
		return nil, loadErrorf("%s: unsupported file type %q", f.Filename, f.Encoding)
	}
	long := numbers.HasLongExponent(src)
	d := &dataFile{name: f.Filename}
	for i, expr := range exprs {
		if long {
			if err := numbers.Check(expr); err != nil {
				return nil, err
			}
		}
		file, err := astutil.ToFile(expr)
		if err != nil {
			return nil, cueerr.WithCategory(cueerr.Syntax, err)
		}
		file.Filename = f.Filename
		if f.Interpretation == build.Auto {
			var schema bool
			file, schema, err = interpret(ctx, file)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				d.schema = schema
			}
		}
		d.docs = append(d.docs, file)
	}
	return d, nil
}

// interpret translates a document that is a JSON Schema or an OpenAPI
// document to CUE (schema true); any other document stays as it is.
func interpret(ctx *cue.Context, file *ast.File) (*ast.File, bool, error) {
	if !hasTopField(file, "$schema", "openapi") { // data: no need to build it here
		return file, false, nil
	}
	v := ctx.BuildFile(file)
	if err := v.Err(); err != nil {
		return nil, false, cueerr.WithCategory(cueerr.Eval, err)
	}
	var out *ast.File
	var err error
	switch {
	case isOpenAPI(v):
		out, err = openapi.Extract(v, &openapi.Config{})
	case isJSONSchema(v):
		out, err = jsonschema.Extract(v, &jsonschema.Config{})
	default:
		return file, false, nil
	}
	if err != nil {
		return nil, false, cueerr.WithCategory(cueerr.Load, err)
	}
	return out, true, nil
}

// hasTopField reports whether file has a field with one of these labels
// at its top level.
func hasTopField(file *ast.File, labels ...string) bool {
	for _, decl := range file.Decls {
		if field, ok := decl.(*ast.Field); ok {
			if name, _, err := ast.LabelName(field.Label); err == nil {
				for _, l := range labels {
					if name == l {
						return true
					}
				}
			}
		}
	}
	return false
}

// isOpenAPI: an OpenAPI 3 document (a version "3.x" and an info with a
// title and a version), as the cue command detects one.
func isOpenAPI(v cue.Value) bool {
	version, err := v.LookupPath(cue.ParsePath("openapi")).String()
	if err != nil || !strings.HasPrefix(version, "3.") {
		return false
	}
	for _, p := range []string{"info.title", "info.version"} {
		if _, err := v.LookupPath(cue.ParsePath(p)).String(); err != nil {
			return false
		}
	}
	return true
}

// isJSONSchema: a document whose $schema is a json-schema.org URL of a
// schema (its last path element "schema"), as the cue command detects one.
func isJSONSchema(v cue.Value) bool {
	s, err := v.LookupPath(cue.MakePath(cue.Str("$schema"))).String()
	if err != nil {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() != "json-schema.org" {
		return false
	}
	_, last := path.Split(u.EscapedPath())
	return last == "schema"
}
