//go:build ignore

// This file is cuepy's, not CUE's: cmd/cuepatch adds it to package
// cuelang.org/go/cue/token in the patched copy of CUE that libcuepy builds
// against (the build line above is dropped there). It gives line infos a
// column as well (go/token's AddLineColumnInfo, which CUE's fork of it
// lacks), so that a position in a generated file (a flattened module) names
// the column it was written at, not only its file and line.

package token

// CuepyLineOrigin says where the text at Line and Column (from 1) of a
// generated file was written: in Filename, at OrigLine and OrigColumn.
type CuepyLineOrigin struct {
	Line, Column         int
	Filename             string
	OrigLine, OrigColumn int
}

// CuepyAddLineOrigins adds a line info at each row's line and column, in
// order, as AddLineInfo would (a row not after the one before, outside the
// file or not counted from 1 is ignored), with its column: a later position
// on the line of an info's offset is as many columns after its column. The
// columns hold while every line info of f is one of these (CUE itself adds
// none).
func (f *File) CuepyAddLineOrigins(rows []CuepyLineOrigin) {
	f.mutex.Lock()
	defer f.mutex.Unlock()
	if len(f.infos) != len(f.cuepyColumns) {
		return
	}
	fit := 0 // (an imports-only parse of the file holds only its first lines)
	for _, r := range rows {
		if r.Line >= 1 && r.Line <= len(f.lines) {
			fit++
		}
	}
	f.infos = append(make([]lineInfo, 0, len(f.infos)+fit), f.infos...)
	f.cuepyColumns = append(make([]int, 0, cap(f.infos)), f.cuepyColumns...)
	for _, r := range rows {
		if r.Line < 1 || r.Line > len(f.lines) || r.Column < 1 || r.OrigLine < 1 {
			continue
		}
		x := f.lines[r.Line-1] + index(r.Column-1)
		if i := len(f.infos); i == 0 || index(f.infos[i-1].Offset) < x && x < f.size {
			f.infos = append(f.infos, lineInfo{Offset: int(x), Filename: r.Filename, Line: r.OrigLine})
			f.cuepyColumns = append(f.cuepyColumns, r.OrigColumn)
		}
	}
}

// unpack is CUE's (cuepyUnpack) with the column of a line info, for
// positions on the line of its offset.
func (f *File) unpack(offset index, adjusted bool) (filename string, line, column int) {
	filename, line, column = f.cuepyUnpack(offset, adjusted)
	if !adjusted || len(f.cuepyColumns) == 0 || len(f.cuepyColumns) != len(f.infos) {
		return
	}
	if i := searchLineInfos(f.infos, int(offset)); i >= 0 {
		alt := f.infos[i]
		if searchInts(f.lines, index(alt.Offset)) == searchInts(f.lines, offset) {
			column = f.cuepyColumns[i] + int(offset) - alt.Offset
		}
	}
	return
}
