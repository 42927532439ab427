// Package serial gives each CUE context an evaluation lock, which every
// export holds while it evaluates a value of that context.
//
// cue.Value's documentation says its methods may be called concurrently,
// but CUE v0.17 finishes a vertex when an operation first reaches it, and
// two goroutines finishing the same vertex race: the race detector shows it
// for Value.Fields with definitions, called on one value from several
// goroutines, and a flatten once panicked from it. libcuepy's callers are
// the threads of any program, sharing values as they like (a cached module
// served to every request), so evaluation is serialised per context:
// threads working in different contexts still run in parallel.
package serial

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"cuelang.org/go/cue"
)

// Lock is the evaluation lock of one context: a channel, so that a waiter
// can give up when it is stopped.
type Lock struct {
	id   uint64 // (the order in which a Set takes its locks)
	slot chan struct{}
}

var (
	locks  sync.Map // weak.Pointer[cue.Context] -> *Lock
	lastID atomic.Uint64
)

// Of is ctx's lock; it goes when ctx does.
func Of(ctx *cue.Context) *Lock {
	key := weak.Make(ctx)
	if l, ok := locks.Load(key); ok {
		return l.(*Lock)
	}
	l, loaded := locks.LoadOrStore(key, &Lock{id: lastID.Add(1), slot: make(chan struct{}, 1)})
	if !loaded {
		runtime.AddCleanup(ctx, func(key weak.Pointer[cue.Context]) { locks.Delete(key) }, key)
	}
	return l.(*Lock)
}

// A Set is the locks of the contexts a value comes from (a unification of
// values of two contexts evaluates in both), without repeats, in taking
// order.
type Set []*Lock

// SetOf is the set of the given locks.
func SetOf(ls ...*Lock) Set {
	s := Set(slices.Clone(ls))
	slices.SortFunc(s, func(a, b *Lock) int { return cmp.Compare(a.id, b.id) })
	return slices.CompactFunc(s, func(a, b *Lock) bool { return a == b })
}

// Union is the locks of s and of others.
func (s Set) Union(others ...Set) Set {
	if len(others) == 0 || len(others) == 1 && slices.Equal(s, others[0]) {
		return s
	}
	if len(s) == 0 && len(others) == 1 {
		return others[0]
	}
	all := slices.Clone(s)
	for _, o := range others {
		all = append(all, o...)
	}
	return SetOf(all...)
}

// spins is how often a call tries for a busy lock before it sleeps: calls
// are often short (a lookup, a decode), and waking a sleeping thread costs
// more than one of them.
const spins = 100

// pollStop is how often a waiting thread checks whether it was stopped.
const pollStop = time.Millisecond

// Hold takes the locks of s, in order (two calls never wait for each other
// in a cycle), and returns the function that releases them. A wait for a
// lock ends when stopped reports a reason (a time limit, an interrupt): Hold
// then takes nothing and returns the reason.
func (s Set) Hold(stopped func() (string, bool)) (release func(), reason string) {
	for i, l := range s {
		if reason, ok := l.take(stopped); !ok {
			s[:i].release()
			return nil, reason
		}
	}
	return s.release, ""
}

func (s Set) release() {
	for _, l := range s {
		<-l.slot
	}
}

// take takes l, or gives up with stopped's reason.
func (l *Lock) take(stopped func() (string, bool)) (string, bool) {
	for range spins {
		select {
		case l.slot <- struct{}{}:
			return "", true
		default:
			runtime.Gosched()
		}
	}
	tick := time.NewTicker(pollStop)
	defer tick.Stop()
	for {
		select {
		case l.slot <- struct{}{}:
			return "", true
		case <-tick.C:
			if reason, ok := stopped(); ok {
				return reason, false
			}
		}
	}
}
