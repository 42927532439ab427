package loader

import (
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// A generated file placed at its origins reports, for every node, the file
// and line it was generated from; lines below a mapped one follow it.
func TestPlaceReportsWhereTheLinesComeFrom(t *testing.T) {
	const generated = "package p\n\na: {\n\tb: 1\n\tc: 2\n}\nd: 3\n"
	origin := Origin{
		Sources: []string{"/m/user.cue", "/m/catalog.cue"},
		Rows:    "1,1,0,1,1;3,1,0,10,1;4,2,1,40,5;7,1,0,20,1",
	}
	rows, err := origin.lines()
	if err != nil {
		t.Fatal(err)
	}
	parse := parseWithOrigins(map[string][]LineOrigin{"/m/user.cue": rows})
	f, err := parse("/m/user.cue", generated, parser.NewConfig(parser.ParseComments))
	if err != nil {
		t.Fatal(err)
	}
	// b's row moves its line 3 columns right (the catalog's indentation), its value with it;
	// c, on a line without a row, keeps its column.
	want := map[string]string{
		"a": "/m/user.cue:10:1", "b": "/m/catalog.cue:40:5", "b's value": "/m/catalog.cue:40:8",
		"c": "/m/catalog.cue:41:2", "d": "/m/user.cue:20:1",
	}
	got := map[string]string{}
	ast.Walk(f, func(n ast.Node) bool {
		if field, ok := n.(*ast.Field); ok {
			label := field.Label.(*ast.Ident).Name
			got[label] = field.Pos().Position().String()
			if label == "b" {
				got["b's value"] = field.Value.Pos().Position().String()
			}
		}
		return true
	}, nil)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s at %s, want %s", k, got[k], w)
		}
	}
	// Another file parsed by the same hook is left alone.
	other, err := parse("/m/other.cue", generated, parser.NewConfig(parser.ParseComments))
	if err != nil {
		t.Fatal(err)
	}
	if got := other.Decls[1].Pos().Position().String(); got != "/m/other.cue:3:1" {
		t.Errorf("unmapped file at %s", got)
	}
}

func TestMalformedOriginsAreRefused(t *testing.T) {
	for _, rows := range []string{"1,1,0,1", "1,1,x,1,1", "1,1,2,1,1"} {
		if _, err := (Origin{Sources: []string{"a.cue"}, Rows: rows}).lines(); err == nil {
			t.Errorf("rows %q accepted", rows)
		}
	}
}

// Rows packed (what cue_flatten reports and cuepy passes back as origins)
// unpack to the same rows, each file named once in Sources.
func TestPackedRowsUnpackAsGiven(t *testing.T) {
	rows := []LineOrigin{
		{Line: 1, Column: 1, Filename: "/m/user.cue", OrigLine: 1, OrigColumn: 1},
		{Line: 4, Column: 2, Filename: "/m/catalog.cue", OrigLine: 40, OrigColumn: 5},
		{Line: 7, Column: 1, Filename: "/m/user.cue", OrigLine: 20, OrigColumn: 1},
	}
	packed := Pack(rows)
	if want := "1,1,0,1,1;4,2,1,40,5;7,1,0,20,1"; packed.Rows != want || len(packed.Sources) != 2 {
		t.Fatalf("Pack = %+v, want rows %q over 2 sources", packed, want)
	}
	back, err := packed.lines()
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(rows) {
		t.Fatalf("unpacked %d rows, want %d", len(back), len(rows))
	}
	for i := range rows {
		if back[i] != rows[i] {
			t.Errorf("row %d: %+v, want %+v", i, back[i], rows[i])
		}
	}
	if empty := Pack(nil); empty.Rows != "" || empty.Sources == nil {
		t.Errorf("Pack(nil) = %+v, want no rows and an empty (not null) Sources", empty)
	}
}
