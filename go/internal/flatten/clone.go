package flatten

import (
	"reflect"

	"cuelang.org/go/cue/ast"
)

// clone is a deep copy of the syntax below n, so that rewriting it leaves n
// alone: the instance n belongs to is evaluated meanwhile, on another
// goroutine. An identifier's Node and Scope (what the resolver found it to
// refer to) still point into the original tree, and comments are shared:
// the rewrite reads both and writes neither.
func clone[T ast.Node](n T) T {
	return cloneValue(reflect.ValueOf(n)).Interface().(T)
}

var identType = reflect.TypeFor[ast.Ident]()

func cloneValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return v
		}
		out := reflect.New(v.Elem().Type())
		out.Elem().Set(v.Elem()) // every field, the unexported ones included
		if v.Elem().Type() == identType {
			return out // Node and Scope are references, not children
		}
		for i := range out.Elem().NumField() {
			if f := out.Elem().Field(i); f.CanSet() {
				f.Set(cloneValue(f))
			}
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(cloneValue(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(cloneValue(v.Index(i)))
		}
		return out
	}
	return v
}
