package extract

import (
	"os"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/cueerr"
)

// Fields lists the fields of struct v that the options show, with each
// one's label as a user writes it in a path (labels is never nil).
func Fields(v cue.Value, o Options) (labels []string, values []cue.Value, err error) {
	iter, err := v.Fields(o.fieldOptions()...)
	if err != nil {
		return nil, nil, cueerr.WithCategory(cueerr.Eval, err)
	}
	labels = []string{}
	for iter.Next() {
		labels = append(labels, label(iter.Selector()))
		values = append(values, iter.Value())
	}
	return labels, values, nil
}

// label is a field's name as a user writes it in a path: regular fields
// unquoted, definitions and hidden fields with their sigils, no "?" or "!".
func label(sel cue.Selector) string {
	if sel.LabelType() == cue.StringLabel {
		return sel.Unquoted()
	}
	return strings.TrimRight(sel.String(), "?!")
}

// Elements lists the elements of list v.
func Elements(v cue.Value) ([]cue.Value, error) {
	iter, err := v.List()
	if err != nil {
		return nil, cueerr.WithCategory(cueerr.Eval, err)
	}
	var elems []cue.Value
	for iter.Next() {
		elems = append(elems, iter.Value())
	}
	return elems, nil
}

// Validate checks v as the options say (Concrete, Final, AllErrors, the
// fields to check).
func Validate(v cue.Value, o Options) error {
	validateOpts := append(o.fieldOptions(), cue.Concrete(o.Concrete))
	if o.Final {
		validateOpts = append(validateOpts, cue.Final())
	}
	if o.AllErrors {
		validateOpts = append(validateOpts, cue.All())
	}
	if err := v.Validate(validateOpts...); err != nil {
		// As `cue vet` prints them: no positions added (classify's Locate).
		if o.Concrete && v.Validate() == nil {
			return cueerr.WithCategory(cueerr.Incomplete, err)
		}
		return cueerr.WithCategory(cueerr.Eval, err)
	}
	return nil
}

// Equal is cuepy's Value.__eq__: two concrete values are equal when
// CUE's Equals says so (optional fields ignored); otherwise each must
// subsume the other (the same constraint, such as int and int, or >1 and >1).
func Equal(a, b cue.Value) bool {
	if concreteData(a) && concreteData(b) {
		return a.Equals(b)
	}
	return a.Subsume(b) == nil && b.Subsume(a) == nil
}

func concreteData(v cue.Value) bool {
	return v.Validate(cue.Concrete(true)) == nil
}

// Subsumes reports whether a subsumes b.
func Subsumes(a, b cue.Value) bool { return a.Subsume(b) == nil }

// SourceInfo locates a value's own source, for tools that rewrite it: its
// file, line, column and offsets as written (a generated file's placed at its
// origins, see loader.Place: the offsets are then those of the line and
// column in that file as it is on disk, -1 where they fall outside it).
type SourceInfo struct {
	File   string `json:"file"`
	Offset int    `json:"offset"`
	End    int    `json:"end"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Text   string `json:"text"`
}

// Source is v's own source (the zero SourceInfo when it has none).
func Source(v cue.Value) (SourceInfo, error) {
	node := v.Source()
	if node == nil {
		return SourceInfo{}, nil
	}
	text, err := format.Node(node)
	if err != nil {
		return SourceInfo{}, err
	}
	start, end := node.Pos(), node.End()
	at := start.Position() // (where it was written: for a generated file, where its text comes from)
	info := SourceInfo{Text: string(text), File: at.Filename, Offset: start.Offset(), End: end.Offset(), Line: at.Line, Column: at.Column}
	if placed(start) || placed(end) { // the offsets loaded are the generated text's: those written, read from the file
		starts := lineStarts(at.Filename)
		info.Offset = offsetAt(starts, at)
		if to := end.Position(); to.Filename == at.Filename {
			info.End = offsetAt(starts, to)
		} else {
			info.End = -1
		}
	}
	return info, nil
}

// placed reports whether p, in a generated file, reports where its text was
// written rather than where it lies.
func placed(p token.Pos) bool {
	f := p.File()
	if f == nil {
		return false
	}
	return f.PositionFor(p, false) != f.PositionFor(p, true)
}

// lineStarts is the offset of each line of the file at path (nil if it
// cannot be read).
func lineStarts(path string) []int {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return append(starts, len(data)+1) // (the end, as the start of a line past the last)
}

// offsetAt is the offset of p's line and column in a file of those line
// starts, or -1 when the file has no such line or column.
func offsetAt(starts []int, p token.Position) int {
	if p.Line < 1 || p.Line >= len(starts) || p.Column < 1 {
		return -1
	}
	at := starts[p.Line-1] + p.Column - 1
	if at >= starts[p.Line] { // (past the line's end, its newline included)
		return -1
	}
	return at
}
