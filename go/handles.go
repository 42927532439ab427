package main

// #include "cuepy.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync/atomic"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/extract"
	"cuepy.dev/libcue/internal/registry"
	"cuepy.dev/libcue/internal/serial"
	"cuepy.dev/libcue/internal/stop"
)

// Everything handed to C is a cgo.Handle to one of these types, to a
// *cueerr.Report (an error) or to a *registry.Server. A handle's kind is
// checked on every use, so a value passed where a context is expected is an
// error, never a crash.
type (
	contextObj struct{ ctx *cue.Context }
	valueObj   struct {
		v cue.Value
		// data is shared by the handles on this same value (cue_lookup of
		// the empty path): its export check, taken once.
		data *extract.DataCheck
		// locks are the evaluation locks of the contexts v comes from,
		// held while it is evaluated.
		locks serial.Set
	}
)

// liveHandles counts handles created and not yet freed, for leak tests.
var liveHandles atomic.Int64

func newHandle(obj any) C.cue_handle {
	liveHandles.Add(1)
	return C.cue_handle(cgo.NewHandle(obj))
}

// resolve returns the object behind h; it reports a clear error for 0, for
// a freed handle and for a handle of another kind.
func resolve[T any](h C.cue_handle, kind string) (T, error) {
	var zero T
	if h == 0 {
		return zero, cueerr.Usagef("null %s handle", kind)
	}
	obj, err := handleValue(h)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, cueerr.Usagef("handle %d is of kind %s, not %s", uint64(h), kindName(obj), kind)
	}
	return t, nil
}

// handleValue looks h up; cgo panics on a handle it never issued or has
// already deleted, which we turn into an error.
func handleValue(h C.cue_handle) (obj any, err error) {
	defer func() {
		if recover() != nil {
			err = cueerr.Usagef("invalid or already freed handle %d", uint64(h))
		}
	}()
	return cgo.Handle(h).Value(), nil
}

func kindName(obj any) string {
	switch obj.(type) {
	case *contextObj:
		return "context"
	case *valueObj:
		return "value"
	case *cueerr.Report:
		return "error"
	case *registry.Server:
		return "registry"
	default:
		return fmt.Sprintf("%T", obj)
	}
}

// valueObjOf is the value behind h, refused when its context is tainted.
func valueObjOf(h C.cue_handle) (*valueObj, error) {
	obj, err := resolve[*valueObj](h, "value")
	if err != nil {
		return nil, err
	}
	if stop.Tainted(obj.v.Context()) {
		return nil, errTainted
	}
	return obj, nil
}

func contextOf(h C.cue_handle) (*cue.Context, error) {
	obj, err := resolve[*contextObj](h, "context")
	if err != nil {
		return nil, err
	}
	if stop.Tainted(obj.ctx) {
		return nil, errTainted
	}
	return obj.ctx, nil
}

var errTainted = cueerr.Usagef("an evaluation in this value's context was stopped (time limit, " +
	"interrupt or depth bound), so its values may be partly evaluated: build them again in a new context")

// newValue is a handle on v, made in its context from values holding locks
// (nil: from none).
func newValue(v cue.Value, from serial.Set) C.cue_handle {
	return derivedValue(v, from.Union(serial.SetOf(serial.Of(v.Context()))))
}

// derivedValue is a handle on v, a part of a value holding locks (in the
// same context: a field, an element, a default).
func derivedValue(v cue.Value, locks serial.Set) C.cue_handle {
	return newHandle(&valueObj{v: v, data: new(extract.DataCheck), locks: locks})
}

// heldValues resolves value handles and holds their evaluation locks until
// release; a stop while it waits is an error.
func heldValues(hs ...C.cue_handle) (objs []*valueObj, release func(), err error) {
	objs = make([]*valueObj, len(hs))
	sets := make([]serial.Set, len(hs))
	for i, h := range hs {
		if objs[i], err = valueObjOf(h); err != nil {
			return nil, nil, err
		}
		sets[i] = objs[i].locks
	}
	release, err = hold(serial.Set(nil).Union(sets...))
	return objs, release, err
}

// heldValue is heldValues of one handle.
func heldValue(h C.cue_handle) (*valueObj, func(), error) {
	obj, err := valueObjOf(h)
	if err != nil {
		return nil, nil, err
	}
	release, err := hold(obj.locks)
	return obj, release, err
}

// heldContext resolves a context handle and holds its evaluation lock until
// release.
func heldContext(h C.cue_handle) (*cue.Context, func(), error) {
	ctx, err := contextOf(h)
	if err != nil {
		return nil, nil, err
	}
	release, err := hold(serial.SetOf(serial.Of(ctx)))
	return ctx, release, err
}

func hold(locks serial.Set) (release func(), err error) {
	release, reason := locks.Hold(stop.Stopped)
	if reason != "" {
		return nil, stop.WaitError(reason)
	}
	return release, nil
}

// freeHandle deletes h once; a second free is an error, not a crash.
func freeHandle(h C.cue_handle) error {
	obj, err := handleValue(h)
	if err != nil {
		return err
	}
	if r, ok := obj.(*registry.Server); ok {
		r.Close()
	}
	cgo.Handle(h).Delete()
	liveHandles.Add(-1)
	return nil
}

//export cue_handle_free
func cue_handle_free(h C.cue_handle) (errh C.cue_handle) {
	defer guard(&errh)
	if h == 0 {
		return 0
	}
	return fail(freeHandle(h))
}

//export cue_live_handles
func cue_live_handles() C.int64_t {
	defer func() { _ = recover() }()
	return C.int64_t(liveHandles.Load())
}
