package flatten

import (
	"fmt"

	"cuelang.org/go/cue/ast"

	"cuepy.dev/libcue/internal/loader"
)

// lineMap pairs the nodes of the rewritten tree with those of its printed
// text, parsed (the same tree, in the same order), and keeps the original
// position of the first node on each printed line, and of each later node
// on it that the row before does not place (the printer aligned it
// otherwise than the user did), in printed order.
func lineMap(rewritten, printed *ast.File) []loader.LineOrigin {
	a, b := preorder(rewritten), preorder(printed)
	var out []loader.LineOrigin
	for i := 0; i < len(a) && i < len(b); i++ {
		if typeName(a[i]) != typeName(b[i]) {
			break // the trees part here: the rest is unmapped
		}
		orig, now := a[i].Pos(), b[i].Pos()
		if !orig.IsValid() || !now.IsValid() {
			continue
		}
		row := loader.LineOrigin{
			Line: now.Line(), Column: now.Column(),
			Filename: orig.Filename(), OrigLine: orig.Line(), OrigColumn: orig.Column(),
		}
		if len(out) == 0 {
			out = append(out, row)
			continue
		}
		last := out[len(out)-1]
		if row.Line < last.Line || row.Line == last.Line && row.Column <= last.Column {
			continue // (not after the last row: a row's offset must grow)
		}
		if row.Line > last.Line || placed(last, row) != row {
			out = append(out, row)
		}
	}
	return out
}

// placed is where a node printed at at's line and column lies by row, the
// last row before it on its line.
func placed(row, at loader.LineOrigin) loader.LineOrigin {
	at.Filename, at.OrigLine, at.OrigColumn = row.Filename, row.OrigLine, row.OrigColumn+at.Column-row.Column
	return at
}

func preorder(n ast.Node) []ast.Node {
	var out []ast.Node
	ast.Walk(n, func(x ast.Node) bool {
		if _, ok := x.(*ast.CommentGroup); ok {
			return false
		}
		out = append(out, x)
		return true
	}, nil)
	return out
}

func typeName(n ast.Node) string {
	switch n.(type) {
	case *ast.Ident:
		return "ident"
	case *ast.BasicLit:
		return "lit"
	}
	return fmt.Sprintf("%T", n)
}
