package loader

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// Origin says where the text of a generated overlay file (a flattened
// module's) comes from, packed as cuepy keeps it: Rows holds, in printed
// order, "line,column,source,origLine,origColumn" (source: an index in
// Sources) for each LineOrigin, rows joined by ";".
type Origin struct {
	Sources []string `json:"sources"`
	Rows    string   `json:"rows"`
}

// LineOrigin says where a node printed at Line and Column of a generated
// file was written (the first node on its line, or a later one that the row
// before does not place): in Filename, the file it was generated from or,
// for a copied declaration, the file that declares it. It is the row the
// patched token.File takes (cmd/cuepatch), so Place hands rows over as they are.
type LineOrigin = token.CuepyLineOrigin

// Rows are the LineOrigins of a generated file, in printed order; as JSON,
// packed as an Origin (the form cuepy keeps and gives back to cue_load).
type Rows []LineOrigin

// MarshalJSON writes rs as the Origin Pack makes of them.
func (rs Rows) MarshalJSON() ([]byte, error) { return json.Marshal(Pack(rs)) }

// Pack is the Origin of rows: their files as Sources, each row packed.
func Pack(rows []LineOrigin) Origin {
	index := map[string]int{}
	o := Origin{Sources: []string{}}
	var b strings.Builder
	for i, r := range rows {
		s, ok := index[r.Filename]
		if !ok {
			s = len(o.Sources)
			index[r.Filename] = s
			o.Sources = append(o.Sources, r.Filename)
		}
		if i > 0 {
			b.WriteByte(';')
		}
		for j, n := range [5]int{r.Line, r.Column, s, r.OrigLine, r.OrigColumn} {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(n))
		}
	}
	o.Rows = b.String()
	return o
}

// lines unpacks o; an error names the first malformed row.
func (o Origin) lines() ([]LineOrigin, error) {
	if o.Rows == "" {
		return nil, nil
	}
	out := make([]LineOrigin, 0, strings.Count(o.Rows, ";")+1)
	for rest := o.Rows; rest != ""; {
		row, after, _ := strings.Cut(rest, ";")
		rest = after
		var n [5]int
		field := row
		for i := range n {
			var text string
			text, field, _ = strings.Cut(field, ",")
			v, err := strconv.Atoi(text)
			if err != nil {
				return nil, fmt.Errorf("origin row %q: want 5 numbers", row)
			}
			n[i] = v
		}
		if field != "" || strings.HasSuffix(row, ",") {
			return nil, fmt.Errorf("origin row %q: want 5 numbers", row)
		}
		if n[2] < 0 || n[2] >= len(o.Sources) {
			return nil, fmt.Errorf("origin row %q: no source %d", row, n[2])
		}
		out = append(out, LineOrigin{Line: n[0], Column: n[1], Filename: o.Sources[n[2]], OrigLine: n[3], OrigColumn: n[4]})
	}
	return out, nil
}

// parseWithOrigins parses as cue/load does, then places each file named in
// origins (by clean path) at its origins (Place).
func parseWithOrigins(origins map[string][]LineOrigin) func(string, any, parser.Config) (*ast.File, error) {
	return func(name string, src any, cfg parser.Config) (*ast.File, error) {
		f, err := parser.ParseFile(name, src, cfg)
		if err == nil {
			Place(f, origins[filepath.Clean(name)])
		}
		return f, err
	}
}

// Place makes every position in f, a file just parsed, report where its
// text was generated from (rows, in printed order): the file, the line and,
// after a row on its line, the column (a line without a row, inside a
// multi-line literal, keeps its printed columns). An error or a value's
// position then names the user's file, line and column wherever it comes
// from.
func Place(f *ast.File, rows []LineOrigin) {
	if len(rows) == 0 || len(f.Decls) == 0 {
		return
	}
	if tf := f.Decls[0].Pos().File(); tf != nil {
		tf.CuepyAddLineOrigins(rows) // (a row not after the one before, or past the end, is ignored)
	}
}

// origins unpacks cfg.Origins by clean path; nil when there are none.
func origins(cfg *Config) (map[string][]LineOrigin, error) {
	if len(cfg.Origins) == 0 {
		return nil, nil
	}
	out := make(map[string][]LineOrigin, len(cfg.Origins))
	for name, o := range cfg.Origins {
		rows, err := o.lines()
		if err != nil {
			return nil, fmt.Errorf("origins of %s: %v", name, err)
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(cfg.Dir, name)
		}
		out[filepath.Clean(name)] = rows
	}
	return out, nil
}
