// Package source reads the CUE_EXPERIMENT experiments cuelang.org/go knows
// from its own source (internal/cueexperiment/exp.go: the fields of Config
// and their `experiment` lifecycle tags), for the generator of
// ../experiments_gen.go and the test that keeps that file in step with the
// CUE version go.mod pins. Go forbids importing CUE's internal packages, so
// the list is read from the source instead.
package source

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// Experiment is one experiment: its name (the field's name in lower case,
// as CUE names it) and its lifecycle tag ("preview:v0.9.0,default:...").
type Experiment struct {
	Name      string
	Lifecycle string
}

// File is where the experiments are declared, inside the CUE module.
const File = "internal/cueexperiment/exp.go"

// ModuleDir is the directory of the cuelang.org/go module the Go module in
// dir (or a directory below it) builds with (go list -m).
func ModuleDir(dir string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "cuelang.org/go")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m cuelang.org/go: %v: %s", err, stderr.String())
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("go list -m cuelang.org/go: the module's source is not on disk (go mod download cuelang.org/go)")
	}
	return d, nil
}

// Read lists the experiments of the CUE module in moduleDir, in the order
// they are declared.
func Read(moduleDir string) ([]Experiment, error) {
	name := filepath.Join(moduleDir, filepath.FromSlash(File))
	f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
	if err != nil {
		return nil, err
	}
	var out []Experiment
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Config" {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		found = true
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue
			}
			tag, err := strconv.Unquote(field.Tag.Value)
			if err != nil {
				continue
			}
			lifecycle, ok := reflect.StructTag(tag).Lookup("experiment")
			if !ok {
				continue
			}
			for _, id := range field.Names {
				out = append(out, Experiment{Name: strings.ToLower(id.Name), Lifecycle: lifecycle})
			}
		}
		return false
	})
	if !found || len(out) == 0 {
		return nil, fmt.Errorf("%s: no Config struct with experiment tags (has CUE changed how it declares experiments?)", name)
	}
	return out, nil
}
