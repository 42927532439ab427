package main

// #include "cuepy.h"
import "C"

import (
	"container/list"
	"crypto/sha256"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// The parsed-source cache: cue/load parses every file of a load again,
// mostly the same catalog and dependency files each time. cachedParseFile,
// installed as load.Config.ParseFile, keeps the syntax tree of each file
// keyed by its name (positions record it), the parser configuration and
// the sha256 of its content, so a warm process parses an unchanged file once.
//
// cue/load and cue/build mutate the trees they are given: build.Instance's
// AddSyntax resolves identifiers again and binds them to the fields of the
// package's other files (Ident.Node, Ident.Scope, File.Unresolved), and tag
// injection replaces field values. A cached tree is therefore never handed
// out: every caller gets a deep copy (copyFile), made from the pristine tree
// the parser returned, which nobody else ever sees.

// defaultParseCacheBytes bounds the source bytes whose trees are kept (a
// tree takes about 13 times its source in memory: 4 MiB of source, some
// 50 MiB of trees; the catalog and a module take about 100 KiB of source).
const defaultParseCacheBytes = 4 << 20

type parseKey struct {
	name string
	cfg  parser.Config
	sum  [sha256.Size]byte
}

type parseEntry struct {
	key  parseKey
	file *ast.File
	size int64
}

type parseCacheT struct {
	mu      sync.Mutex
	entries map[parseKey]*list.Element
	lru     list.List // front: most recently used
	bytes   int64
	max     int64

	hits, misses, evictions atomic.Uint64
}

var parseCache = &parseCacheT{entries: map[parseKey]*list.Element{}, max: initialParseCacheBytes()}

// initialParseCacheBytes is the bound a process starts with: CUEPY_CACHE=off
// turns every cuepy cache off, this one included.
func initialParseCacheBytes() int64 {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CUEPY_CACHE"))) {
	case "off", "0", "false", "no", "disable", "disabled":
		return 0
	}
	return defaultParseCacheBytes
}

// cachedParseFile implements load.Config.ParseFile.
func cachedParseFile(name string, src any, cfg parser.Config) (*ast.File, error) {
	var data []byte
	switch s := src.(type) {
	case []byte:
		data = s
	case string:
		data = []byte(s)
	default:
		return parser.ParseFile(name, src, cfg)
	}
	key := parseKey{name: name, cfg: cfg, sum: sha256.Sum256(data)}
	if f := parseCache.get(key); f != nil {
		if cp := copyFile(f); cp != nil {
			parseCache.hits.Add(1)
			return cp, nil
		}
	}
	parseCache.misses.Add(1)
	f, err := parser.ParseFile(name, data, cfg)
	if err != nil || f == nil {
		return f, err // errors are not cached: the load fails and reports them
	}
	// The tree kept is this one, which no caller ever sees; the caller gets
	// a copy (or, if it cannot be copied, this one and nothing is kept).
	cp := copyFile(f)
	if cp == nil {
		return f, nil
	}
	parseCache.put(key, f, int64(len(data)))
	return cp, nil
}

func (c *parseCacheT) get(key parseKey) *ast.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*parseEntry).file
}

// entryOverhead is charged for every entry on top of its source bytes: a
// tree costs kilobytes of heap even for a one-line file, so a stream of
// distinct small overlays must not grow the cache past its bound in spirit.
const entryOverhead = 8 << 10

func (c *parseCacheT) put(key parseKey, f *ast.File, size int64) {
	size += entryOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.max {
		return
	}
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(&parseEntry{key: key, file: f, size: size})
	c.bytes += size
	for c.bytes > c.max {
		c.removeLocked(c.lru.Back())
		c.evictions.Add(1)
	}
}

func (c *parseCacheT) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*parseEntry)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

// reset empties the cache and sets its bound (0 disables it; < 0 keeps the bound).
func (c *parseCacheT) reset(max int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[parseKey]*list.Element{}
	c.lru.Init()
	c.bytes = 0
	if max >= 0 {
		c.max = max
	}
	c.hits.Store(0)
	c.misses.Store(0)
	c.evictions.Store(0)
}

func (c *parseCacheT) enabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max > 0
}

//export cue_parsecache_read
func cue_parsecache_read(out *C.cue_parsecache_info) {
	defer func() { _ = recover() }() // no Go panic crosses the C boundary
	c := parseCache
	c.mu.Lock()
	out.entries = C.int64_t(len(c.entries))
	out.bytes = C.int64_t(c.bytes)
	out.max_bytes = C.int64_t(c.max)
	c.mu.Unlock()
	out.hits = C.uint64_t(c.hits.Load())
	out.misses = C.uint64_t(c.misses.Load())
	out.evictions = C.uint64_t(c.evictions.Load())
}

//export cue_parsecache_reset
func cue_parsecache_reset(maxBytes C.int64_t) {
	defer func() { _ = recover() }() // no Go panic crosses the C boundary
	parseCache.reset(int64(maxBytes))
}

// Deep copy of a syntax tree ------------------------------------------------

// copyFile returns a copy of f sharing no mutable node with it, or nil if f
// holds a node this copier does not know (the caller then parses again).
// Identifiers' references into the tree (Ident.Node, Ident.Scope,
// File.Unresolved) are mapped to the copies of their targets. Positions
// (token.Pos and the *token.File they point to, immutable once parsed) are
// shared, as is the sentinel node of predeclared identifiers.
func copyFile(f *ast.File) (out *ast.File) {
	c := copier{seen: make(map[ast.Node]ast.Node, 512)}
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	m := dup(&c, f, offFile)
	m.Decls = c.decls(f.Decls)
	if f.Unresolved != nil {
		m.Unresolved = make([]*ast.Ident, len(f.Unresolved))
		for i, id := range f.Unresolved {
			if cp, ok := c.seen[id]; ok {
				m.Unresolved[i] = cp.(*ast.Ident)
			} else {
				m.Unresolved[i] = c.ident(id)
			}
		}
	}
	for _, id := range c.idents {
		id.Node = c.ref(id.Node)
		id.Scope = c.ref(id.Scope)
	}
	return m
}

type copier struct {
	seen   map[ast.Node]ast.Node // original node -> its copy
	idents []*ast.Ident          // copied identifiers, whose references are mapped last
}

// unknownNode is what the copier panics with on a node type it does not know.
type unknownNode struct{ n ast.Node }

// Offsets of the unexported comments field in each node type, to give each
// copy its own comment groups (a shallow copy shares them).
var (
	offFile           = commentsOffset[ast.File]()
	offAttribute      = commentsOffset[ast.Attribute]()
	offField          = commentsOffset[ast.Field]()
	offAlias          = commentsOffset[ast.Alias]()
	offPostfixAlias   = commentsOffset[ast.PostfixAlias]()
	offComprehension  = commentsOffset[ast.Comprehension]()
	offBadExpr        = commentsOffset[ast.BadExpr]()
	offBottomLit      = commentsOffset[ast.BottomLit]()
	offIdent          = commentsOffset[ast.Ident]()
	offBasicLit       = commentsOffset[ast.BasicLit]()
	offInterpolation  = commentsOffset[ast.Interpolation]()
	offFunc           = commentsOffset[ast.Func]()
	offStructLit      = commentsOffset[ast.StructLit]()
	offListLit        = commentsOffset[ast.ListLit]()
	offEllipsis       = commentsOffset[ast.Ellipsis]()
	offForClause      = commentsOffset[ast.ForClause]()
	offIfClause       = commentsOffset[ast.IfClause]()
	offLetClause      = commentsOffset[ast.LetClause]()
	offFallbackClause = commentsOffset[ast.FallbackClause]()
	offTryClause      = commentsOffset[ast.TryClause]()
	offParenExpr      = commentsOffset[ast.ParenExpr]()
	offSelectorExpr   = commentsOffset[ast.SelectorExpr]()
	offIndexExpr      = commentsOffset[ast.IndexExpr]()
	offSliceExpr      = commentsOffset[ast.SliceExpr]()
	offCallExpr       = commentsOffset[ast.CallExpr]()
	offUnaryExpr      = commentsOffset[ast.UnaryExpr]()
	offBinaryExpr     = commentsOffset[ast.BinaryExpr]()
	offPostfixExpr    = commentsOffset[ast.PostfixExpr]()
	offImportSpec     = commentsOffset[ast.ImportSpec]()
	offBadDecl        = commentsOffset[ast.BadDecl]()
	offImportDecl     = commentsOffset[ast.ImportDecl]()
	offEmbedDecl      = commentsOffset[ast.EmbedDecl]()
	offPackage        = commentsOffset[ast.Package]()
)

var commentGroupsType = reflect.TypeFor[*[]*ast.CommentGroup]()

func commentsOffset[T any]() uintptr {
	f, ok := reflect.TypeFor[T]().FieldByName("comments")
	if !ok || f.Type.NumField() != 1 || f.Type.Field(0).Type != commentGroupsType {
		panic("parsecache: unexpected comments field in " + reflect.TypeFor[T]().String())
	}
	return f.Offset
}

// dup makes a shallow copy of x with its own comment groups and records it.
func dup[T any](c *copier, x *T, off uintptr) *T {
	m := new(T)
	*m = *x
	groups := (**[]*ast.CommentGroup)(unsafe.Add(unsafe.Pointer(m), off))
	if *groups != nil {
		cgs := make([]*ast.CommentGroup, len(**groups))
		for i, g := range **groups {
			cgs[i] = c.commentGroup(g)
		}
		*groups = &cgs
	}
	c.seen[any(x).(ast.Node)] = any(m).(ast.Node)
	return m
}

func (c *copier) commentGroup(g *ast.CommentGroup) *ast.CommentGroup {
	if g == nil {
		return nil
	}
	m := *g
	m.List = make([]*ast.Comment, len(g.List))
	for i, cm := range g.List {
		cp := *cm
		m.List[i] = &cp
	}
	return &m
}

// ref maps a reference held by an identifier to the copy of its target.
func (c *copier) ref(n ast.Node) ast.Node {
	if n == nil {
		return nil
	}
	if cp, ok := c.seen[n]; ok {
		return cp
	}
	return n // outside the tree: the predeclared sentinel
}

func (c *copier) ident(x *ast.Ident) *ast.Ident {
	if x == nil {
		return nil
	}
	if cp, ok := c.seen[x]; ok {
		return cp.(*ast.Ident)
	}
	m := dup(c, x, offIdent)
	c.idents = append(c.idents, m)
	return m
}

func (c *copier) basicLit(x *ast.BasicLit) *ast.BasicLit {
	if x == nil {
		return nil
	}
	return dup(c, x, offBasicLit)
}

func (c *copier) structLit(x *ast.StructLit) *ast.StructLit {
	if x == nil {
		return nil
	}
	m := dup(c, x, offStructLit)
	m.Elts = c.decls(x.Elts)
	return m
}

func (c *copier) postfixAlias(x *ast.PostfixAlias) *ast.PostfixAlias {
	if x == nil {
		return nil
	}
	m := dup(c, x, offPostfixAlias)
	m.Label = c.ident(x.Label)
	m.Field = c.ident(x.Field)
	return m
}

func (c *copier) fallback(x *ast.FallbackClause) *ast.FallbackClause {
	if x == nil {
		return nil
	}
	m := dup(c, x, offFallbackClause)
	m.Body = c.structLit(x.Body)
	return m
}

func (c *copier) decls(a []ast.Decl) []ast.Decl {
	if a == nil {
		return nil
	}
	m := make([]ast.Decl, len(a))
	for i, d := range a {
		m[i] = c.node(d).(ast.Decl)
	}
	return m
}

func (c *copier) exprs(a []ast.Expr) []ast.Expr {
	if a == nil {
		return nil
	}
	m := make([]ast.Expr, len(a))
	for i, e := range a {
		m[i] = c.expr(e)
	}
	return m
}

func (c *copier) expr(e ast.Expr) ast.Expr {
	if e == nil {
		return nil
	}
	return c.node(e).(ast.Expr)
}

func (c *copier) label(l ast.Label) ast.Label {
	if l == nil {
		return nil
	}
	return c.node(l).(ast.Label)
}

// node copies any node; it panics with unknownNode on a type it does not know.
// copyNodes copies a slice of nodes of one type (nil stays nil).
func copyNodes[T ast.Node](c *copier, xs []T) []T {
	if xs == nil {
		return nil
	}
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = c.node(x).(T)
	}
	return out
}

func (c *copier) node(n ast.Node) ast.Node {
	switch x := n.(type) {
	case nil:
		return nil
	case *ast.Ident:
		return c.ident(x)
	case *ast.BasicLit:
		return c.basicLit(x)
	case *ast.StructLit:
		return c.structLit(x)
	case *ast.Field:
		m := dup(c, x, offField)
		m.Label = c.label(x.Label)
		m.Alias = c.postfixAlias(x.Alias)
		m.Value = c.expr(x.Value)
		if x.Attrs != nil {
			m.Attrs = make([]*ast.Attribute, len(x.Attrs))
			for i, a := range x.Attrs {
				m.Attrs[i] = dup(c, a, offAttribute)
			}
		}
		return m
	case *ast.Attribute:
		return dup(c, x, offAttribute)
	case *ast.Alias:
		m := dup(c, x, offAlias)
		m.Ident = c.ident(x.Ident)
		m.Expr = c.expr(x.Expr)
		return m
	case *ast.PostfixAlias:
		return c.postfixAlias(x)
	case *ast.Comprehension:
		m := dup(c, x, offComprehension)
		m.Clauses = copyNodes(c, x.Clauses)
		m.Value = c.expr(x.Value)
		m.Fallback = c.fallback(x.Fallback)
		return m
	case *ast.BadExpr:
		return dup(c, x, offBadExpr)
	case *ast.BottomLit:
		return dup(c, x, offBottomLit)
	case *ast.Interpolation:
		m := dup(c, x, offInterpolation)
		m.Elts = c.exprs(x.Elts)
		return m
	case *ast.Func:
		m := dup(c, x, offFunc)
		m.Args = c.exprs(x.Args)
		m.Ret = c.expr(x.Ret)
		return m
	case *ast.ListLit:
		m := dup(c, x, offListLit)
		m.Elts = c.exprs(x.Elts)
		return m
	case *ast.Ellipsis:
		m := dup(c, x, offEllipsis)
		m.Type = c.expr(x.Type)
		return m
	case *ast.ForClause:
		m := dup(c, x, offForClause)
		m.Key = c.ident(x.Key)
		m.Value = c.ident(x.Value)
		m.Source = c.expr(x.Source)
		return m
	case *ast.IfClause:
		m := dup(c, x, offIfClause)
		m.Condition = c.expr(x.Condition)
		return m
	case *ast.LetClause:
		m := dup(c, x, offLetClause)
		m.Ident = c.ident(x.Ident)
		m.Expr = c.expr(x.Expr)
		return m
	case *ast.FallbackClause:
		return c.fallback(x)
	case *ast.TryClause:
		m := dup(c, x, offTryClause)
		m.Ident = c.ident(x.Ident)
		m.Expr = c.expr(x.Expr)
		return m
	case *ast.ParenExpr:
		m := dup(c, x, offParenExpr)
		m.X = c.expr(x.X)
		return m
	case *ast.SelectorExpr:
		m := dup(c, x, offSelectorExpr)
		m.X = c.expr(x.X)
		m.Sel = c.label(x.Sel)
		return m
	case *ast.IndexExpr:
		m := dup(c, x, offIndexExpr)
		m.X = c.expr(x.X)
		m.Index = c.expr(x.Index)
		return m
	case *ast.SliceExpr:
		m := dup(c, x, offSliceExpr)
		m.X = c.expr(x.X)
		m.Low = c.expr(x.Low)
		m.High = c.expr(x.High)
		return m
	case *ast.CallExpr:
		m := dup(c, x, offCallExpr)
		m.Fun = c.expr(x.Fun)
		m.Args = c.exprs(x.Args)
		return m
	case *ast.UnaryExpr:
		m := dup(c, x, offUnaryExpr)
		m.X = c.expr(x.X)
		return m
	case *ast.BinaryExpr:
		m := dup(c, x, offBinaryExpr)
		m.X = c.expr(x.X)
		m.Y = c.expr(x.Y)
		return m
	case *ast.PostfixExpr:
		m := dup(c, x, offPostfixExpr)
		m.X = c.expr(x.X)
		return m
	case *ast.ImportSpec:
		m := dup(c, x, offImportSpec)
		m.Name = c.ident(x.Name)
		m.Path = c.basicLit(x.Path)
		return m
	case *ast.BadDecl:
		return dup(c, x, offBadDecl)
	case *ast.ImportDecl:
		m := dup(c, x, offImportDecl)
		m.Specs = copyNodes(c, x.Specs)
		return m
	case *ast.EmbedDecl:
		m := dup(c, x, offEmbedDecl)
		m.Expr = c.expr(x.Expr)
		return m
	case *ast.Package:
		m := dup(c, x, offPackage)
		m.Name = c.ident(x.Name)
		return m
	case *ast.CommentGroup:
		return c.commentGroup(x)
	default:
		panic(unknownNode{n})
	}
}
