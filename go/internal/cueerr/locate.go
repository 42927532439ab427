package cueerr

import (
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// Locate gives each error of err that has no source position the position
// of the field its path names in v: CUE reports some failures of concrete
// checks ("incomplete value 1 | 2", an unresolved bound) with a path only.
func Locate(v cue.Value, err error) error {
	errs := cueerrors.Errors(err)
	changed := false
	var out cueerrors.Error
	for _, e := range errs {
		if len(cueerrors.Positions(e)) == 0 {
			if pos := fieldPos(v, e.Path()); pos.IsValid() {
				e, changed = &located{err: e, pos: pos}, true
			}
		}
		out = cueerrors.Append(out, e)
	}
	if !changed {
		return err
	}
	return out
}

type located struct {
	err cueerrors.Error
	pos token.Pos
}

func (l *located) Error() string               { return l.err.Error() }
func (l *located) Path() []string              { return l.err.Path() }
func (l *located) Msg() (string, []any)        { return l.err.Msg() }
func (l *located) Position() token.Pos         { return l.pos }
func (l *located) InputPositions() []token.Pos { return []token.Pos{l.pos} }

// fieldPos is the position of the field at path (an error's path, from the
// root v was taken from) below v.
func fieldPos(v cue.Value, path []string) token.Pos {
	own := v.Path().Selectors()
	if len(path) < len(own) {
		return token.NoPos
	}
	var sels []cue.Selector
	for _, label := range path[len(own):] {
		switch {
		case strings.HasPrefix(label, "#"):
			sels = append(sels, cue.Def(label))
		case label != "" && strings.Trim(label, "0123456789") == "":
			i, err := strconv.Atoi(label)
			if err != nil {
				return token.NoPos
			}
			sels = append(sels, cue.Index(i))
		default:
			if s, err := strconv.Unquote(label); err == nil {
				label = s
			}
			sels = append(sels, cue.Str(label))
		}
	}
	f := v.LookupPath(cue.MakePath(sels...))
	if !f.Exists() {
		return token.NoPos
	}
	return f.Pos()
}

// yamlLine matches the "file:line: message" of the YAML decoder's errors.
var yamlLine = regexp.MustCompile(`^(.*):(\d+): (.*)$`)

// YAML gives a YAML syntax error, which names its line in its text
// only, a source position.
func YAML(filename string, src []byte, err error) error {
	if len(cueerrors.Positions(err)) > 0 {
		return err
	}
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil || m[1] != filename {
		return err
	}
	line, _ := strconv.Atoi(m[2])
	file := token.NewFile(filename, -1, len(src))
	file.SetLinesForContent(src)
	lines := file.Lines()
	if line < 1 || line > len(lines) {
		return err
	}
	return cueerrors.Newf(file.Pos(lines[line-1], token.NoRelPos), "%s", m[3])
}
