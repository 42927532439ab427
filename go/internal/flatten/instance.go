package flatten

import (
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/loader"
)

// withSources is inst with the rewritten files as printed (their syntax,
// placed at their origins: the value verification hands out reports the
// user's lines), built without loading anything again: inst's other files
// are copied and so are the instances of its imports (whose syntax is
// shared), any of which the rewritten files may import (a written-out
// definition's packages). inst itself is left alone, so it may be evaluated
// meanwhile.
func withSources(inst *build.Instance, rewritten []File) (*build.Instance, error) {
	byName := make(map[string]File, len(rewritten))
	for _, f := range rewritten {
		byName[f.Name] = f
	}
	loaded := dependencies(inst)
	imported := func(_ token.Pos, path string) *build.Instance { return loaded[path] }
	out := build.NewContext().NewInstance(inst.Dir, imported)
	out.User, out.PkgName, out.ImportPath, out.DisplayPath = inst.User, inst.PkgName, inst.ImportPath, inst.DisplayPath
	out.Module, out.ModuleVersion, out.ModuleFile = inst.Module, inst.ModuleVersion, inst.ModuleFile
	out.Root, out.RootLoc, out.DirLoc = inst.Root, inst.RootLoc, inst.DirLoc
	out.CanonicalImportPath, out.BuildFiles = inst.CanonicalImportPath, inst.BuildFiles
	for _, f := range inst.Files {
		var err error
		if r, ok := byName[f.Filename]; !ok {
			err = out.AddSyntax(unresolved(clone(f)))
		} else if r.syntax == nil {
			err = out.AddFile(r.Name, r.Source) // (does not parse: reports why)
		} else {
			loader.Place(r.syntax, r.Lines)
			err = out.AddSyntax(r.syntax)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := out.Complete(); err != nil {
		return nil, err
	}
	return out, nil
}

// unresolved clears what the resolver recorded in file, a clone, whose
// identifiers still refer into the original: adding it to an instance
// resolves it again, within itself.
func unresolved(file *ast.File) *ast.File {
	file.Unresolved = nil
	ast.Walk(file, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			id.Node, id.Scope = nil, nil
		}
		return true
	}, nil)
	return file
}

// dependencies are copies of the instances inst imports, directly or not,
// by import path: completing an instance writes to those it imports. Each
// is copied once and the copies import each other, so that a package is
// one instance however it is reached (two would be two packages to CUE).
func dependencies(inst *build.Instance) map[string]*build.Instance {
	copies := map[*build.Instance]*build.Instance{}
	var visit func(*build.Instance)
	visit = func(i *build.Instance) {
		for _, imp := range i.Imports {
			if _, seen := copies[imp]; !seen {
				shared := *imp
				copies[imp] = &shared
				visit(imp)
			}
		}
	}
	visit(inst)
	byPath := map[string]*build.Instance{}
	for original, c := range copies {
		c.Imports = make([]*build.Instance, len(original.Imports))
		for i, imp := range original.Imports {
			c.Imports[i] = copies[imp]
		}
		byPath[original.ImportPath] = c
	}
	return byPath
}
