package flatten

import (
	"testing"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"

	"cuepy.dev/libcue/internal/loader"
)

// A value the printer aligns otherwise than the user did gets a row of its
// own; a node the row before places already does not.
func TestLineMapPlacesNodesTheUsersSpacingMoved(t *testing.T) {
	written, err := parser.ParseFile("/m/a.cue", "package p\n\nx: {\n\tlong:    1\n\tb:       2\n}\n", parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	src, err := format.Node(written)
	if err != nil {
		t.Fatal(err)
	}
	printed, err := parser.ParseFile("/m/a.cue", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	// printed: "x: {\n\tlong: 1\n\tb:    2\n}" (cue fmt aligns the values one space after the longest label)
	want := []loader.LineOrigin{
		{Line: 1, Column: 1, Filename: "/m/a.cue", OrigLine: 1, OrigColumn: 1},
		{Line: 3, Column: 1, Filename: "/m/a.cue", OrigLine: 3, OrigColumn: 1},
		{Line: 4, Column: 2, Filename: "/m/a.cue", OrigLine: 4, OrigColumn: 2},
		{Line: 4, Column: 8, Filename: "/m/a.cue", OrigLine: 4, OrigColumn: 11},
		{Line: 5, Column: 2, Filename: "/m/a.cue", OrigLine: 5, OrigColumn: 2},
		{Line: 5, Column: 8, Filename: "/m/a.cue", OrigLine: 5, OrigColumn: 11},
	}
	got := lineMap(written, printed)
	if len(got) != len(want) {
		t.Fatalf("rows %+v\nwant %+v\nprinted:\n%s", got, want, src)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v\nprinted:\n%s", i, got[i], want[i], src)
		}
	}
}
