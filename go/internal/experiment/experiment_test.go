package experiment

import (
	"os"
	"testing"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/experiment/gen/render"
	"cuepy.dev/libcue/internal/experiment/source"
)

// The messages are the cue command's (v0.17.1) for the same values.
func TestCheck(t *testing.T) {
	for value, want := range map[string]string{
		"":                         "",
		"keepvalidators":           "",
		"modules,evalv3=1":         "",
		"modules=":                 "",
		"formatv2=0":               "",
		"evalv3=true,,toposort":    "",
		"nosuch":                   `error in CUE_EXPERIMENT: unknown experiment "nosuch"`,
		"Modules":                  `error in CUE_EXPERIMENT: unknown experiment "Modules"`,
		" modules":                 `error in CUE_EXPERIMENT: unknown experiment " modules"`,
		"evalv3=0":                 `error in CUE_EXPERIMENT: cannot disable stable experiment "evalv3"`,
		"foo=1,bar":                "error in CUE_EXPERIMENT: unknown experiment \"bar\"\nunknown experiment \"foo\"",
		"cmdreferencepkg=2":        `cannot parse CUE_EXPERIMENT: invalid value "2" for experiment "cmdreferencepkg"`,
		"formatv2":                 `error in CUE_EXPERIMENT: cannot set experiment "formatv2" before version v0.18.0`,
		"evalv3=true,nosuch=false": `error in CUE_EXPERIMENT: unknown experiment "nosuch"`,
	} {
		got := ""
		if err := Check(value); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("Check(%q) = %q, want %q", value, got, want)
		}
	}
}

func TestWithdrawnAndVersions(t *testing.T) {
	saved := known
	defer func() { known = saved }()
	known = []experimentTag{{"gone", "preview:v0.1.0,withdrawn:v0.2.0"}}
	if err := check("gone", "v0.3.0"); err == nil || err.Error() != `error in CUE_EXPERIMENT: cannot set rejected experiment "gone"` {
		t.Errorf("withdrawn: %v", err)
	}
	if err := check("gone", "v0.1.5"); err != nil {
		t.Errorf("before withdrawal: %v", err)
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"v0.17.1", "v0.18.0", -1}, {"v0.18.0", "v0.18.0", 0}, {"v0.18.0-alpha.1", "v0.18.0", -1}, {"v1.0.0", "v0.99.9", 1}} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%s, %s) = %d", c.a, c.b, got)
		}
	}
	if v := cue.LanguageVersion(); compareVersions(v, "v0.17.0") < 0 {
		t.Errorf("cue.LanguageVersion() = %q", v)
	}
}

// TestGeneratedIsCurrent: experiments_gen.go lists what the pinned CUE
// declares; after a CUE upgrade, `go generate ./internal/experiment`.
func TestGeneratedIsCurrent(t *testing.T) {
	dir, err := source.ModuleDir(".")
	if err != nil {
		t.Fatal(err)
	}
	exps, err := source.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render.Render(exps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("experiments_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("experiments_gen.go is stale: run go generate ./internal/experiment\nwant:\n%s", want)
	}
}
