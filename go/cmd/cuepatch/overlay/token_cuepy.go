//go:build ignore

// This file is cuepy's, not CUE's: cmd/cuepatch adds it to package
// cuelang.org/go/cue/token in the patched copy of CUE that libcuepy builds
// against (the build line above is dropped there). It gives a line info a
// column as well (go/token's AddLineColumnInfo, which CUE's fork of it
// lacks), so that a position in a generated file (a flattened module) names
// the column it was written at, not only its file and line.

package token

// CuepyAddLineColumnInfo is AddLineInfo with the column of the position at
// offset: a later position on the same line of f is as many columns after it.
func (f *File) CuepyAddLineColumnInfo(offset int, filename string, line, column int) {
	x := index(offset)
	f.mutex.Lock()
	defer f.mutex.Unlock()
	if i := len(f.infos); i == 0 || index(f.infos[i-1].Offset) < x && x < f.size {
		f.infos = append(f.infos, lineInfo{Offset: offset, Filename: filename, Line: line})
		if f.cuepyColumns == nil {
			f.cuepyColumns = map[int]int{}
		}
		f.cuepyColumns[offset] = column
	}
}

// unpack is CUE's (cuepyUnpack) with the column of a line info given one,
// for positions on the line of its offset.
func (f *File) unpack(offset index, adjusted bool) (filename string, line, column int) {
	filename, line, column = f.cuepyUnpack(offset, adjusted)
	if !adjusted || len(f.cuepyColumns) == 0 {
		return
	}
	if i := searchLineInfos(f.infos, int(offset)); i >= 0 {
		alt := f.infos[i]
		at, ok := f.cuepyColumns[alt.Offset]
		if ok && searchInts(f.lines, index(alt.Offset)) == searchInts(f.lines, offset) {
			column = at + int(offset) - alt.Offset
		}
	}
	return
}
