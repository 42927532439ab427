//go:build ignore

// This file is cuepy's, not CUE's: cmd/cuepatch adds it to CUE's
// internal/core/adt package in the patched copy of CUE that libcuepy builds
// against (the build line above is dropped there). It wraps (*Vertex).unify,
// which cuepatch renames to cuepyUnify, so that an evaluation can be stopped
// from outside and cannot recurse deeper than a bound: the evaluator's
// recursions all pass through unify, and a Go stack overflow is a fatal error
// no recover() catches.

package adt

import (
	"sync"
	"sync/atomic"
	"syscall"
)

// CuepyStop is the panic value that unwinds a stopped evaluation; cuepy's
// exports recover it and report it as an error.
type CuepyStop struct {
	// Reason is what stopped it: a caller's reason, or "depth".
	Reason string
	// Depth is the unify nesting reached.
	Depth int64
	// Runtime is the runtime of the stopped evaluation: values of it may be
	// left partly evaluated.
	Runtime Runtime
}

var (
	cuepyMaxDepth atomic.Int64 // 0: no limit
	cuepyPending  atomic.Int32 // len(cuepyStops): the fast path reads only this

	cuepyMu     sync.Mutex
	cuepyStops  = map[int]string{} // OS thread id -> reason to stop
	cuepyAdopts = map[int]int{}    // OS thread id -> the thread whose stop it follows
)

func (v *Vertex) unify(c *OpContext, flags Flags) bool {
	c.cuepyDepth++
	if max := cuepyMaxDepth.Load(); (max > 0 && c.cuepyDepth > max) || cuepyPending.Load() != 0 {
		cuepyCheck(c)
	}
	done := v.cuepyUnify(c, flags)
	c.cuepyDepth--
	return done
}

func cuepyCheck(c *OpContext) {
	if max := cuepyMaxDepth.Load(); max > 0 && c.cuepyDepth > max {
		panic(CuepyStop{Reason: "depth", Depth: c.cuepyDepth, Runtime: c.Runtime})
	}
	if reason, ok := CuepyStopped(syscall.Gettid()); ok {
		panic(CuepyStop{Reason: reason, Depth: c.cuepyDepth, Runtime: c.Runtime})
	}
}

// CuepySetMaxDepth bounds the unify nesting of every evaluation (0: none).
func CuepySetMaxDepth(n int64) { cuepyMaxDepth.Store(n) }

// CuepyRequestStop makes the evaluation running on OS thread tid (or on a
// thread that adopted it) stop at its next unify; CuepyClearStop withdraws it.
func CuepyRequestStop(tid int, reason string) {
	cuepyMu.Lock()
	defer cuepyMu.Unlock()
	cuepyStops[tid] = reason
	cuepyPending.Store(int32(len(cuepyStops)))
}

// CuepyClearStop withdraws a stop requested for tid.
func CuepyClearStop(tid int) {
	cuepyMu.Lock()
	defer cuepyMu.Unlock()
	delete(cuepyStops, tid)
	cuepyPending.Store(int32(len(cuepyStops)))
}

// CuepyStopped reports whether a stop was requested for OS thread tid, or for
// the thread it follows.
func CuepyStopped(tid int) (string, bool) {
	if cuepyPending.Load() == 0 {
		return "", false
	}
	cuepyMu.Lock()
	defer cuepyMu.Unlock()
	if reason, ok := cuepyStops[tid]; ok {
		return reason, true
	}
	reason, ok := cuepyStops[cuepyAdopts[tid]] // (no thread has id 0)
	return reason, ok
}

// CuepyFollow makes OS thread tid follow the stops of thread parent (what
// parent follows, if anything), or no longer follow any with parent 0.
func CuepyFollow(tid, parent int) {
	cuepyMu.Lock()
	defer cuepyMu.Unlock()
	if parent == 0 {
		delete(cuepyAdopts, tid)
		return
	}
	if grand, ok := cuepyAdopts[parent]; ok {
		parent = grand
	}
	cuepyAdopts[tid] = parent
}
