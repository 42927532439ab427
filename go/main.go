// Command libcuepy is built with -buildmode=c-shared into the shared library
// that ships inside the cuepy Python package. Its exports are declared in
// cuepy.h, the ABI's one source of truth.
//
// Package main holds only what touches C: the //export functions, the
// handle table (handles.go), C memory (memory.go), the recovery every
// export defers and the error handles (errors.go). Each export resolves its
// handles, converts its arguments and calls into an internal package by
// concern:
//
//   - internal/cueerr: error categories, the error report (message, path
//     and positions of each CUE error) that errors.go hands out;
//   - internal/loader: compile, -e expressions, cue/load driven by a JSON
//     configuration, data files combined as the cue command combines them
//     and cue vet, the inputs a load reads (load.go, context.go);
//   - internal/experiment: CUE_EXPERIMENT refused as the cue command
//     refuses it (the experiments generated from CUE's source);
//   - internal/confine: the filesystem loads read through and the checks
//     that keep them inside the main module;
//   - internal/numbers: number literals beyond CUE's range;
//   - internal/runenv: the caller's environment per call (registry
//     configuration, proxies, offline, GOGC and GOMEMLIMIT);
//   - internal/extract: lookups, fields, decoding, export, validation and
//     comparison of values (value.go, export.go);
//   - internal/registry: the local OCI registry and publishing (registry.go);
//   - internal/flatten: the blueprint flattener and its verification
//     (flatten.go);
//   - internal/localmod: modules served from directories.
package main

func main() {}
