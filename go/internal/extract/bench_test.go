package extract

import (
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

func BenchmarkLookupParsePath(b *testing.B) {
	v := cuecontext.New().CompileString(`a: b: {c: "hello", d: 42}`)
	for i := 0; i < b.N; i++ {
		v.LookupPath(cue.ParsePath("a.b.c"))
	}
}

func BenchmarkParsePath(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cue.ParsePath("a.b.c")
	}
}

func BenchmarkLookupPreparsed(b *testing.B) {
	v := cuecontext.New().CompileString(`a: b: {c: "hello", d: 42}`)
	p := cue.ParsePath("a.b.c")
	for i := 0; i < b.N; i++ {
		v.LookupPath(p)
	}
}

func BenchmarkDecodeString(b *testing.B) {
	v := cuecontext.New().CompileString(`a: b: {c: "hello", d: 42}`).LookupPath(cue.ParsePath("a.b.c"))
	for i := 0; i < b.N; i++ {
		d := &decoder{}
		_ = d.decode(v)
	}
}
