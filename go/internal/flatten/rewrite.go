package flatten

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// edit replaces the declarations of one struct of the user's file.
type edit struct {
	lit  *ast.StructLit
	elts []ast.Decl
}

// rewriteFile writes out, in every struct of file, the expandable
// definitions it embeds. It reports each struct that embeds a definition
// that composes others, flattened or not.
func (f *flattener) rewriteFile(file *ast.File) ([]Component, bool) {
	var comps []Component
	var edits []edit
	path := []string{} // labels from the file's root; nil once unknown
	var stack [][]string
	ast.Walk(file, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.Field:
			stack = append(stack, path)
			path = extend(path, x.Label)
		case *ast.Comprehension:
			stack = append(stack, path)
			path = nil
		case *ast.StructLit:
			if c, e, ok := f.rewriteStruct(file, x, path); ok {
				comps = append(comps, c)
				if e != nil {
					edits = append(edits, *e)
				}
			}
		}
		return true
	}, func(n ast.Node) {
		switch n.(type) {
		case *ast.Field, *ast.Comprehension:
			path, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
	})
	// The file's own top level is a struct too.
	changed := len(edits) > 0
	top := &ast.StructLit{Elts: file.Decls}
	if c, e, ok := f.rewriteStruct(file, top, []string{}); ok {
		comps = append(comps, c)
		if e != nil {
			file.Decls = e.elts
			changed = true
		}
	}
	for _, e := range edits {
		e.lit.Elts = e.elts
	}
	return comps, changed
}

func extend(path []string, label ast.Label) []string {
	if path == nil {
		return nil
	}
	name, isIdent, err := ast.LabelName(label)
	if err != nil {
		return nil
	}
	if !isIdent {
		name = fmt.Sprintf("%q", name)
	}
	return append(append([]string{}, path...), name)
}

// rewriteStruct expands the definitions lit embeds. ok is false when lit
// embeds nothing that composes other definitions.
func (f *flattener) rewriteStruct(file *ast.File, lit *ast.StructLit, path []string) (Component, *edit, bool) {
	var targets []defKey
	expand := map[int]defKey{}
	for i, elt := range lit.Elts {
		embed, ok := elt.(*ast.EmbedDecl)
		if !ok {
			continue
		}
		k, ok := f.refTarget(f.root, file, embed.Expr)
		if !ok {
			continue
		}
		targets = append(targets, k)
		if d := f.def(k); d.expandable {
			expand[i] = k
		}
	}
	comp := Component{Path: pathString(path), File: file.Filename}
	if p := lit.Pos(); p.IsValid() {
		comp.Line, comp.Column = p.Line(), p.Column()
	} else if len(lit.Elts) > 0 {
		comp.Line, comp.Column = lit.Elts[0].Pos().Line(), lit.Elts[0].Pos().Column()
	}
	if len(expand) == 0 {
		if reason := f.whyNot(targets); reason != "" {
			comp.Reason = reason
			return comp, nil, true
		}
		return comp, nil, false
	}
	if why, ok := f.keep[comp.Path]; ok {
		comp.Reason = why
		return comp, nil, true
	}
	if reason := f.conflict(lit, expand); reason != "" {
		comp.Reason = reason
		return comp, nil, true
	}
	kept := map[defKey]bool{}
	for i, elt := range lit.Elts {
		if _, ok := expand[i]; ok {
			continue
		}
		if embed, ok := elt.(*ast.EmbedDecl); ok {
			if k, ok := f.refTarget(f.root, file, embed.Expr); ok {
				kept[k] = true
			}
		}
	}
	written := map[ast.Decl]bool{}
	var elts []ast.Decl
	for i, elt := range lit.Elts {
		k, ok := expand[i]
		if !ok {
			elts = append(elts, elt)
			continue
		}
		d := f.def(k)
		comp.Inlined = append(comp.Inlined, d.inlined...)
		for _, a := range d.atoms {
			switch {
			case a.ref != nil && !kept[*a.ref]:
				kept[*a.ref] = true
				elts = append(elts, f.embedRef(*a.ref, elt.Pos()))
			case a.decl != nil && !written[a.decl]:
				written[a.decl] = true
				ast.SetRelPos(a.decl, token.Newline) // one declaration a line, as cue fmt writes structs
				elts = append(elts, a.decl)
			}
		}
	}
	comp.Flattened = true
	return comp, &edit{lit: lit, elts: elts}, true
}

// whyNot explains why none of targets expands, when one of them composes
// other definitions (a plain base definition needs no explaining).
func (f *flattener) whyNot(targets []defKey) string {
	var reasons []string
	for _, k := range targets {
		d := f.def(k)
		if d.expandable || strings.Contains(d.reason, "composes no other definition") {
			continue
		}
		reasons = append(reasons, fmt.Sprintf("%s: %s", k, d.reason))
	}
	return strings.Join(reasons, "; ")
}

// conflict tells when writing out the definitions would change what the
// user's own references in lit mean: a label they add that a reference of
// lit looks up in an enclosing scope, or a name of the user's package
// they use that lit declares.
func (f *flattener) conflict(lit *ast.StructLit, expand map[int]defKey) string {
	inside := nodesOf(lit)
	outer := map[string]bool{}
	own := map[string]bool{}
	for _, elt := range lit.Elts {
		for _, name := range declaredNames(elt) {
			own[name] = true
		}
	}
	for _, id := range references(lit) {
		if !isImport(id) && (id.Scope == nil || !inside[id.Scope]) {
			outer[id.Name] = true
		}
	}
	for _, k := range expand {
		d := f.def(k)
		for name := range d.declared {
			if outer[name] && !own[name] {
				return fmt.Sprintf("%s declares %s, which this struct refers to outside itself", k, name)
			}
		}
		for name := range d.samePackage {
			if own[name] {
				return fmt.Sprintf("%s refers to the package's %s, which this struct declares", k, name)
			}
		}
	}
	return ""
}

// embedRef is the embedding of a kept definition, as the user's file names it.
func (f *flattener) embedRef(k defKey, pos token.Pos) ast.Decl {
	var expr ast.Expr = ast.NewIdent(k.name)
	if k.inst != f.root {
		expr = ast.NewSel(ast.NewIdent(f.alias(k.inst, "")), k.name)
	}
	ast.SetPos(expr, pos)
	ast.SetRelPos(expr, token.Newline)
	return &ast.EmbedDecl{Expr: expr}
}
