package main

import (
	"testing"

	"cuelang.org/go/cue/cuecontext"
)

func BenchmarkHandle(b *testing.B) {
	v := cuecontext.New().CompileString(`a: b: {c: "hello", d: 42}`)
	for i := 0; i < b.N; i++ {
		h := newValue(v, nil)
		_ = freeHandle(h)
	}
}
