package flatten

import (
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/token"
)

// refTarget is the definition expr refers to, seen from file of inst: an
// imported package's `pkg.#D` or the package's own top-level `#D`.
func (f *flattener) refTarget(inst *build.Instance, file *ast.File, expr ast.Expr) (defKey, bool) {
	switch x := expr.(type) {
	case *ast.SelectorExpr:
		pkg, ok := x.X.(*ast.Ident)
		if !ok {
			return defKey{}, false
		}
		spec, ok := pkg.Node.(*ast.ImportSpec)
		if !ok {
			return defKey{}, false
		}
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return defKey{}, false
		}
		target := inst.LookupImport(path)
		name, _, err := ast.LabelName(x.Sel)
		if target == nil || err != nil || !strings.HasPrefix(name, "#") {
			return defKey{}, false
		}
		if _, ok := f.hints[target]; !ok {
			f.hints[target] = pkg.Name
		}
		return defKey{target, name}, true
	case *ast.Ident:
		if !strings.HasPrefix(x.Name, "#") {
			return defKey{}, false
		}
		if _, isFile := x.Scope.(*ast.File); isFile || (x.Node == nil && topLevel(inst, x.Name) != nil) {
			return defKey{inst, x.Name}, true
		}
	}
	return defKey{}, false
}

// topLevel is the package's one top-level field named name, or nil.
func topLevel(inst *build.Instance, name string) *ast.Field {
	field, _, _ := declaration(inst, name)
	return field
}

// declaration finds the top-level field name of inst and its file; a name
// declared more than once, or not as a plain field, is an error.
func declaration(inst *build.Instance, name string) (*ast.Field, *ast.File, error) {
	var found *ast.Field
	var in *ast.File
	for _, file := range inst.Files {
		for _, d := range file.Decls {
			switch x := d.(type) {
			case *ast.Field:
				label, isIdent, err := ast.LabelName(x.Label)
				if err != nil || label != name {
					continue
				}
				if found != nil {
					return nil, nil, fmt.Errorf("%s is declared more than once", name)
				}
				if !isIdent || x.Constraint != token.ILLEGAL {
					return nil, nil, fmt.Errorf("%s is not a plain field", name)
				}
				found, in = x, file
			case *ast.LetClause:
				if x.Ident.Name == name {
					return nil, nil, fmt.Errorf("%s is a let clause", name)
				}
			}
		}
	}
	if found == nil {
		return nil, nil, fmt.Errorf("%s not found in %s", name, inst.ImportPath)
	}
	return found, in, nil
}

// peel splits a definition's value into its conjuncts: references and
// struct literals, through parentheses, & and close().
func peel(e ast.Expr) ([]ast.Expr, error) {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return peel(x.X)
	case *ast.BinaryExpr:
		if x.Op != token.AND {
			break
		}
		a, err := peel(x.X)
		if err != nil {
			return nil, err
		}
		b, err := peel(x.Y)
		return append(a, b...), err
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "close" && id.Node == nil && len(x.Args) == 1 {
			return peel(x.Args[0])
		}
	case *ast.StructLit, *ast.Ident, *ast.SelectorExpr:
		return []ast.Expr{x}, nil
	}
	return nil, fmt.Errorf("%s: its value is not a unification of definitions and structs (%T)", e.Pos(), e)
}

// def expands the definition key (once; the result is shared).
func (f *flattener) def(key defKey) *definition {
	if d, ok := f.defs[key]; ok {
		return d
	}
	d := &definition{reason: "it refers to itself", declared: map[string]bool{}, samePackage: map[string]bool{}}
	f.defs[key] = d
	if err := f.expand(key, d); err != nil {
		d.reason = err.Error()
		d.atoms = nil
		return d
	}
	d.expandable, d.reason = true, ""
	return d
}

func (f *flattener) expand(key defKey, d *definition) error {
	field, file, err := declaration(key.inst, key.name)
	if err != nil {
		return err
	}
	conjuncts, err := peel(field.Value)
	if err != nil {
		return err
	}
	inside := nodesOf(field.Value)
	composes := false
	addRef := func(k defKey) {
		composes = true
		sub := f.def(k)
		if !sub.expandable {
			d.atoms = append(d.atoms, atom{ref: &k})
			return
		}
		d.atoms = append(d.atoms, sub.atoms...)
		d.inlined = append(d.inlined, sub.inlined...)
		for name := range sub.declared {
			d.declared[name] = true
		}
		for name := range sub.samePackage {
			d.samePackage[name] = true
		}
	}
	for _, c := range conjuncts {
		lit, ok := c.(*ast.StructLit)
		if !ok {
			k, ok := f.refTarget(key.inst, file, c)
			if !ok {
				return fmt.Errorf("%s: %s is not a definition", c.Pos(), astString(c))
			}
			addRef(k)
			continue
		}
		for _, elt := range lit.Elts {
			if embed, ok := elt.(*ast.EmbedDecl); ok {
				if k, ok := f.refTarget(key.inst, file, embed.Expr); ok {
					addRef(k)
					continue
				}
			}
			elt = clone(elt)
			if err := f.requalify(elt, key.inst, file, inside, d); err != nil {
				return err
			}
			d.atoms = append(d.atoms, atom{decl: elt})
			for _, name := range declaredNames(elt) {
				d.declared[name] = true
			}
		}
	}
	if !composes {
		return fmt.Errorf("%s composes no other definition", key)
	}
	if !hasRef(d.atoms) {
		return fmt.Errorf("%s: nothing closed would remain", key)
	}
	d.inlined = append([]string{key.String()}, d.inlined...)
	return nil
}

func hasRef(atoms []atom) bool {
	for _, a := range atoms {
		if a.ref != nil {
			return true
		}
	}
	return false
}

// requalify rewrites, in place, the references of decl (a copy of a
// declaration of a definition in file of inst) so that they mean the same in
// the user's files: a package-level name becomes `alias.name`, an import its
// alias. Names bound inside the definition stay as they are.
func (f *flattener) requalify(decl ast.Decl, inst *build.Instance, file *ast.File, inside map[ast.Node]bool, d *definition) error {
	var fault error
	same := inst == f.root
	declared := map[string]bool{}
	for _, id := range declarations(decl) {
		declared[id] = true
	}
	qualify := func(alias string, at token.Pos) string {
		if declared[alias] && fault == nil {
			fault = fmt.Errorf("%s: it declares %s, the name its package's import would need", at, alias)
		}
		return alias
	}
	astutil.Apply(decl, func(c astutil.Cursor) bool {
		id, ok := c.Node().(*ast.Ident)
		if !ok || fault != nil || !isReference(c) {
			return fault == nil
		}
		switch {
		case isImport(id):
			path, _ := strconv.Unquote(id.Node.(*ast.ImportSpec).Path.Value)
			target := inst.LookupImport(path)
			if target == nil {
				fault = fmt.Errorf("%s: import %q not found", id.Pos(), path)
				return false
			}
			c.Replace(ast.NewIdent(qualify(f.alias(target, id.Name), id.Pos())))
		case id.Scope != nil && inside[id.Scope], id.Node != nil && inside[id.Node]:
			// Bound inside the definition: it moves with it.
		case isFileScope(id) || (id.Node == nil && topLevel(inst, id.Name) != nil):
			if strings.HasPrefix(id.Name, "_") && !same {
				fault = fmt.Errorf("%s: %s is hidden in %s", id.Pos(), id.Name, inst.ImportPath)
				return false
			}
			if _, _, err := declaration(inst, id.Name); err != nil {
				fault = fmt.Errorf("%s: %w", id.Pos(), err)
				return false
			}
			if same {
				d.samePackage[id.Name] = true
				return true
			}
			sel := ast.NewSel(ast.NewIdent(qualify(f.alias(inst, f.importName(inst)), id.Pos())), id.Name)
			ast.SetPos(sel, id.Pos())
			c.Replace(sel)
		case id.Node == nil:
			// A predeclared identifier (int, len, ...).
		default:
			fault = fmt.Errorf("%s: %s refers outside its definition", id.Pos(), id.Name)
			return false
		}
		return true
	}, nil)
	return fault
}

func isImport(id *ast.Ident) bool {
	_, ok := id.Node.(*ast.ImportSpec)
	return ok
}

func isFileScope(id *ast.Ident) bool {
	_, ok := id.Scope.(*ast.File)
	return ok
}

// isReference tells an identifier that refers to something from one that
// names (a label, a selector, a bound variable).
func isReference(c astutil.Cursor) bool {
	id := c.Node().(*ast.Ident)
	parent := c.Parent()
	if parent == nil {
		return true
	}
	switch p := parent.Node().(type) {
	case *ast.Field:
		return p.Label != ast.Label(id)
	case *ast.SelectorExpr:
		return p.Sel != ast.Label(id)
	case *ast.ForClause:
		return p.Key != id && p.Value != id
	case *ast.LetClause:
		return p.Ident != id
	case *ast.Alias:
		return p.Ident != id
	case *ast.ImportSpec, *ast.Package:
		return false
	}
	return true
}

// nodesOf is the set of nodes in n's tree.
func nodesOf(n ast.Node) map[ast.Node]bool {
	set := map[ast.Node]bool{}
	ast.Walk(n, func(x ast.Node) bool {
		set[x] = true
		return true
	}, nil)
	return set
}

// declaredNames are the labels a declaration adds to its struct.
func declaredNames(d ast.Decl) []string {
	switch x := d.(type) {
	case *ast.Field:
		if name, isIdent, err := ast.LabelName(x.Label); err == nil && isIdent {
			return []string{name}
		}
		if a, ok := x.Label.(*ast.Alias); ok {
			return []string{a.Ident.Name}
		}
	case *ast.LetClause:
		return []string{x.Ident.Name}
	}
	return nil
}

func astString(n ast.Node) string {
	switch x := n.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		name, _, _ := ast.LabelName(x.Sel)
		return astString(x.X) + "." + name
	}
	return fmt.Sprintf("%T", n)
}

// references are the identifiers of n's tree that refer to something.
func references(n ast.Node) []*ast.Ident {
	naming := map[*ast.Ident]bool{}
	var ids []*ast.Ident
	ast.Walk(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.Field:
			if id, ok := x.Label.(*ast.Ident); ok {
				naming[id] = true
			}
		case *ast.SelectorExpr:
			if id, ok := x.Sel.(*ast.Ident); ok {
				naming[id] = true
			}
		case *ast.ForClause:
			naming[x.Key] = true
			naming[x.Value] = true
		case *ast.LetClause:
			naming[x.Ident] = true
		case *ast.Alias:
			naming[x.Ident] = true
		case *ast.Ident:
			if !naming[x] {
				ids = append(ids, x)
			}
		}
		return true
	}, nil)
	return ids
}

// importName is the name inst was imported under where the flattener met
// it, else its package name.
func (f *flattener) importName(inst *build.Instance) string {
	if name, ok := f.hints[inst]; ok {
		return name
	}
	return inst.PkgName
}

// declarations are the names declared anywhere in n's tree: labels, let
// clauses, comprehension variables, aliases.
func declarations(n ast.Node) []string {
	var out []string
	ast.Walk(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.Field:
			if name, isIdent, err := ast.LabelName(x.Label); err == nil && isIdent {
				out = append(out, name)
			}
		case *ast.LetClause:
			out = append(out, x.Ident.Name)
		case *ast.ForClause:
			if x.Key != nil {
				out = append(out, x.Key.Name)
			}
			out = append(out, x.Value.Name)
		case *ast.Alias:
			out = append(out, x.Ident.Name)
		}
		return true
	}, nil)
	return out
}
