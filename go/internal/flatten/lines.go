package flatten

import (
	"fmt"

	"cuelang.org/go/cue/ast"

	"cuepy.dev/libcue/internal/loader"
)

// lineMap pairs the nodes of the rewritten tree with those of its printed
// text, parsed (the same tree, in the same order), and keeps, for each
// printed line, the original position of the first node on it.
func lineMap(rewritten, printed *ast.File) []loader.LineOrigin {
	a, b := preorder(rewritten), preorder(printed)
	var out []loader.LineOrigin
	last := 0
	for i := 0; i < len(a) && i < len(b); i++ {
		if typeName(a[i]) != typeName(b[i]) {
			break // the trees part here: the rest is unmapped
		}
		orig, now := a[i].Pos(), b[i].Pos()
		if !orig.IsValid() || !now.IsValid() || now.Line() <= last {
			continue
		}
		last = now.Line()
		out = append(out, loader.LineOrigin{
			Line: now.Line(), Column: now.Column(),
			File: orig.Filename(), OrigLine: orig.Line(), OrigColumn: orig.Column(),
		})
	}
	return out
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
