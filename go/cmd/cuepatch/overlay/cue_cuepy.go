//go:build ignore

// This file is cuepy's, not CUE's: cmd/cuepatch adds it to package
// cuelang.org/go/cue in the patched copy of CUE that libcuepy builds against
// (the build line above is dropped there), so that cuepy, outside CUE's
// module, can reach the stop and depth hooks of internal/core/adt/cuepy.go
// and a value's fields without sorting them.

package cue

import (
	"cuelang.org/go/internal/core/adt"
	"cuelang.org/go/internal/core/runtime"
)

// CuepyVersion is the version of this CUE (cuepatch writes it here: build
// information names a patched copy by its directory, not its version).
const CuepyVersion = "CUEPY_CUE_VERSION"

// CuepyStop is the panic value of a stopped evaluation.
type CuepyStop = adt.CuepyStop

// CuepyStoppedContext is the Context whose evaluation s stopped (nil if unknown).
func CuepyStoppedContext(s CuepyStop) *Context {
	rt, _ := s.Runtime.(*runtime.Runtime)
	return (*Context)(rt)
}

// CuepySetMaxDepth bounds the evaluator's unify nesting (0: no limit).
func CuepySetMaxDepth(n int64) { adt.CuepySetMaxDepth(n) }

// CuepyRequestStop stops the evaluation running on OS thread tid at its next step.
func CuepyRequestStop(tid int, reason string) { adt.CuepyRequestStop(tid, reason) }

// CuepyClearStop withdraws a stop requested for OS thread tid.
func CuepyClearStop(tid int) { adt.CuepyClearStop(tid) }

// CuepyStopped reports whether a stop was requested for OS thread tid.
func CuepyStopped(tid int) (string, bool) { return adt.CuepyStopped(tid) }

// CuepyFollow makes OS thread tid follow the stops of thread parent (0: none).
func CuepyFollow(tid, parent int) { adt.CuepyFollow(tid, parent) }

// CuepyFields iterates what v.Fields(Definitions(true), Optional(true))
// does (regular, definition, optional and required fields; no let or hidden
// field), in the order the evaluator holds them. Value.Fields sorts them
// topologically first (CUE's TODO(sort)), which costs more than the rest of
// a walk over a module; a caller that only compares fields by label needs no
// order.
func CuepyFields(v Value) *Iterator {
	d, _ := v.Default()
	arcs := make([]*adt.Vertex, 0, len(d.v.Arcs))
	for _, arc := range d.v.Arcs {
		// (an arc pending or not present is not a field: once v is
		// finished, what is pending was not yielded)
		if f := arc.Label; f.IsLet() || f.IsHidden() || arc.ArcType > adt.ArcOptional {
			continue
		}
		arcs = append(arcs, arc)
	}
	return &Iterator{idx: v.idx, ctx: v.ctx(), val: v, arcs: arcs, isList: v.Kind() == ListKind}
}
