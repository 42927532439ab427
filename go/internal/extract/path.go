package extract

import (
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"

	"cuepy.dev/libcue/internal/cueerr"
)

// Parsing a path costs several times the lookup itself, and callers ask
// for the same few paths again and again, so parsed paths are kept; the
// cache is dropped whole when it grows past pathCacheSize.
const pathCacheSize = 4096

var (
	pathCacheMu sync.RWMutex
	pathCache   = map[string]cue.Path{}
)

// ParsePath parses s as a CUE path; an invalid one is a usage error.
func ParsePath(s string) (cue.Path, error) {
	pathCacheMu.RLock()
	p, ok := pathCache[s]
	pathCacheMu.RUnlock()
	if ok {
		return p, nil
	}
	p = cue.ParsePath(s)
	if err := p.Err(); err != nil {
		return p, cueerr.Usagef("invalid path %q: %v", s, err)
	}
	pathCacheMu.Lock()
	if len(pathCache) >= pathCacheSize {
		pathCache = map[string]cue.Path{}
	}
	pathCache[s] = p
	pathCacheMu.Unlock()
	return p, nil
}

// Lookup finds path in v. cue.ParsePath refuses hidden labels (_a,
// _#A), which belong to a package; such a path is resolved label by label,
// a hidden label naming the field of that spelling in the value at hand
// (as `cue eval -e _a` finds it in the instance's scope).
func Lookup(v cue.Value, s string) (cue.Value, error) {
	p, err := ParsePath(s)
	if err == nil {
		return v.LookupPath(p), nil
	}
	labels, ok := pathLabels(s)
	if !ok {
		return cue.Value{}, err
	}
	cur := v
	for _, label := range labels {
		var sel cue.Selector
		if strings.HasPrefix(label, "_") {
			found := false
			iter, ierr := cur.Fields(cue.All())
			for ierr == nil && iter.Next() {
				if strings.TrimRight(iter.Selector().String(), "?!") == label {
					s := iter.Selector()
					sel, found = s, true
					break
				}
			}
			if !found {
				return cue.Value{}, nil
			}
		} else {
			lp, lerr := ParsePath(label)
			if lerr != nil {
				return cue.Value{}, err
			}
			sel = lp.Selectors()[0]
		}
		cur = cur.LookupPath(cue.MakePath(sel))
		if !cur.Exists() {
			return cur, nil
		}
	}
	return cur, nil
}

// pathLabels splits a path such as a._b."c-d"[0] into its labels, each
// in path syntax (a, _b, "c-d", [0]); ok is false for anything else.
func pathLabels(s string) (labels []string, ok bool) {
	expr, err := parser.ParseExpr("path", s)
	if err != nil {
		return nil, false
	}
	var walk func(x ast.Expr) bool
	walk = func(x ast.Expr) bool {
		switch x := x.(type) {
		case *ast.Ident:
			labels = append(labels, x.Name)
		case *ast.SelectorExpr:
			if !walk(x.X) {
				return false
			}
			text, err := format.Node(x.Sel)
			if err != nil {
				return false
			}
			labels = append(labels, string(text))
		case *ast.IndexExpr:
			if !walk(x.X) {
				return false
			}
			text, err := format.Node(x.Index)
			if err != nil {
				return false
			}
			labels = append(labels, "["+string(text)+"]")
		case *ast.BasicLit:
			labels = append(labels, x.Value)
		default:
			return false
		}
		return true
	}
	if !walk(expr) {
		return nil, false
	}
	return labels, true
}
