package loader

import (
	"path/filepath"
	"regexp"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/confine"
)

// inModuleFile gives err, a load error about the module's cue.mod/module.cue
// that names no position (cue/load says "no language version declared in
// module.cue", "... declared in module.cue is too new ...", "... is too
// early for module.cue"), the position of that file's language version, or
// of its start: which module.cue, and where. (Not an error naming a file of
// the module that is called module.cue, as OPM's are.)
func inModuleFile(err error, root string, guard *confine.FS) error {
	if len(cueerrors.Positions(err)) > 0 || !aboutModuleFile.MatchString(err.Error()) {
		return err
	}
	name := filepath.Join(root, "cue.mod", "module.cue")
	src, readErr := guard.ReadPath(name)
	if readErr != nil {
		return err
	}
	return cueerrors.Newf(languageVersionPos(name, src), "%v", err)
}

var aboutModuleFile = regexp.MustCompile(`\b(in|for) module\.cue\b`)

// languageVersionPos is where module.cue's `language: version:` is written,
// else the start of the file.
func languageVersionPos(name string, src []byte) token.Pos {
	if f, err := parser.ParseFile(name, src); err == nil {
		if pos := fieldPos(f.Decls, "language", "version"); pos.IsValid() {
			return pos
		}
	}
	// (One byte more: an empty file still has its line 1.)
	file := token.NewFile(name, -1, len(src)+1)
	file.SetLinesForContent(append(src[:len(src):len(src)], '\n'))
	return file.Pos(0, token.NoRelPos)
}

// fieldPos is the position of the value at path among decls (fields whose
// values are struct literals, as `a: b: x` is written).
func fieldPos(decls []ast.Decl, path ...string) token.Pos {
	for _, d := range decls {
		field, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if label, _, err := ast.LabelName(field.Label); err != nil || label != path[0] {
			continue
		}
		if len(path) == 1 {
			return field.Value.Pos()
		}
		if s, ok := field.Value.(*ast.StructLit); ok {
			if pos := fieldPos(s.Elts, path[1:]...); pos.IsValid() {
				return pos
			}
		}
	}
	return token.NoPos
}
