// Command gen writes ../experiments_gen.go: the CUE_EXPERIMENT experiments
// of the cuelang.org/go version go.mod pins, read from its source (package
// source). Run it with `go generate ./internal/experiment` after changing
// that version; the package's tests fail until then.
package main

import (
	"log"
	"os"

	"cuepy.dev/libcue/internal/experiment/gen/render"
	"cuepy.dev/libcue/internal/experiment/source"
)

func main() {
	dir, err := source.ModuleDir(".")
	if err != nil {
		log.Fatal(err)
	}
	exps, err := source.Read(dir)
	if err != nil {
		log.Fatal(err)
	}
	src, err := render.Render(exps)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("experiments_gen.go", src, 0o644); err != nil {
		log.Fatal(err)
	}
}
