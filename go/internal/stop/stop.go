// Package stop stops CUE evaluations from outside, through the hooks
// cmd/cuepatch adds to CUE's evaluator: a deadline or an interrupt for the
// evaluations an OS thread runs, and a bound on the evaluator's recursion.
//
// A stopped evaluation unwinds with a cue.CuepyStop panic, which the exports'
// guard turns into an error (Error). Its values may be left partly evaluated,
// so their Context is tainted: handles of a tainted Context are refused.
package stop

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"weak"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/cueerr"
)

// Reasons to stop, as the stop hook reports them.
const (
	Interrupted = "interrupt" // the caller was interrupted (Ctrl-C)
	Timeout     = "timeout"   // the thread's deadline passed
	Depth       = "depth"     // the evaluator recursed deeper than its bound
)

// DefaultMaxDepth bounds the evaluator's unify nesting. The two inputs known to
// recurse without end reach it in about 0.2 s and 250 MB of stack (Go's own
// bound, where it dies, is 1 GB, about 220,000 levels); values nested 9,000
// levels deep need a few levels, a chain of 3,000 list references 6,000.
const DefaultMaxDepth = 50_000

var maxDepth = int64(DefaultMaxDepth)

func init() { cue.CuepySetMaxDepth(maxDepth) }

// SetMaxDepth bounds the evaluator's unify nesting (0: no bound) and returns
// the previous bound.
func SetMaxDepth(n int64) int64 {
	mu.Lock()
	defer mu.Unlock()
	previous := maxDepth
	maxDepth = n
	cue.CuepySetMaxDepth(n)
	return previous
}

// thread is what is asked of one OS thread's evaluations; its first stop
// reason is what the evaluator hook sees.
type thread struct {
	deadline    *time.Timer
	timedOut    bool // its deadline passed
	interrupted bool
}

var (
	mu      sync.Mutex
	threads = map[int]*thread{} // OS thread id -> what is asked of it
)

// Thread is the id of the calling OS thread (a cgo call keeps its goroutine on
// the thread that made it).
func Thread() int { return syscall.Gettid() }

// update tells the evaluator hook what stops thread tid now.
func update(tid int) {
	t := threads[tid]
	switch {
	case t == nil:
		cue.CuepyClearStop(tid)
	case t.timedOut:
		cue.CuepyRequestStop(tid, Timeout)
	case t.interrupted:
		cue.CuepyRequestStop(tid, Interrupted)
	default:
		cue.CuepyClearStop(tid)
	}
	if t != nil && t.deadline == nil && !t.interrupted {
		delete(threads, tid)
	}
}

func state(tid int) *thread {
	t := threads[tid]
	if t == nil {
		t = &thread{}
		threads[tid] = t
	}
	return t
}

// After makes the evaluations of thread tid stop once d has passed (at once if
// d <= 0), replacing its previous deadline.
func After(tid int, d time.Duration) {
	mu.Lock()
	defer mu.Unlock()
	t := state(tid)
	if t.deadline != nil {
		t.deadline.Stop()
	}
	var timer *time.Timer
	timer = time.AfterFunc(max(d, 0), func() {
		mu.Lock()
		defer mu.Unlock()
		if t := threads[tid]; t != nil && t.deadline == timer { // not cleared or replaced meanwhile
			t.timedOut = true
			update(tid)
		}
	})
	t.deadline, t.timedOut = timer, d <= 0 // a deadline already passed stops the next step, not the timer's
	update(tid)
}

// ClearDeadline withdraws thread tid's deadline, passed or not.
func ClearDeadline(tid int) {
	mu.Lock()
	defer mu.Unlock()
	if t := threads[tid]; t != nil && t.deadline != nil {
		t.deadline.Stop()
		t.deadline, t.timedOut = nil, false
		update(tid)
	}
}

// Interrupt makes the evaluations of thread tid stop at their next step, until
// ClearInterrupt.
func Interrupt(tid int) {
	mu.Lock()
	defer mu.Unlock()
	state(tid).interrupted = true
	update(tid)
}

// ClearInterrupt withdraws an interrupt of thread tid.
func ClearInterrupt(tid int) {
	mu.Lock()
	defer mu.Unlock()
	if t := threads[tid]; t != nil && t.interrupted {
		t.interrupted = false
		update(tid)
	}
}

// Follow makes thread tid follow the stops of thread parent (0: none): for a
// thread that evaluates for a call made on parent.
func Follow(tid, parent int) { cue.CuepyFollow(tid, parent) }

// Adopt locks the calling goroutine to its OS thread and makes that thread
// follow the stops of thread parent, until release is called: for goroutines
// that evaluate for a call made on parent.
func Adopt(parent int) (release func()) {
	runtime.LockOSThread()
	tid := Thread()
	Follow(tid, parent)
	return func() {
		Follow(tid, 0)
		runtime.UnlockOSThread()
	}
}

// Error is the error a recovered stop panic reports; it taints the stopped
// evaluation's Context.
func Error(s cue.CuepyStop) error {
	taint(cue.CuepyStoppedContext(s))
	return reasonError(s.Reason, s.Depth)
}

// Stopped is the reason the calling thread's evaluations are to stop, if
// they are (what the evaluator's hook would stop them with).
func Stopped() (string, bool) { return cue.CuepyStopped(Thread()) }

// WaitError is the error of a call stopped for reason before it evaluated
// anything (while it waited): nothing is tainted.
func WaitError(reason string) error { return reasonError(reason, 0) }

func reasonError(reason string, depth int64) error {
	switch reason {
	case Depth:
		return cueerr.Limited("depth", fmt.Errorf(
			"evaluation recursed deeper than %d levels, the bound cuepy sets to stop CUE's evaluator "+
				"before Go's stack overflows and ends the process (cuepy.set_max_depth changes it)", depth-1))
	case Timeout:
		return cueerr.Limited("time", fmt.Errorf("evaluation stopped: its time limit ran out"))
	case Interrupted:
		return cueerr.Limited("interrupt", fmt.Errorf("evaluation interrupted (Ctrl-C, or a cancelled cuepy.CancelScope)"))
	default:
		return cueerr.Limited(reason, fmt.Errorf("evaluation stopped: %s", reason))
	}
}

var (
	tainted    sync.Map // weak.Pointer[cue.Context] -> struct{}
	anyTainted atomic.Bool
)

func taint(ctx *cue.Context) {
	if ctx != nil {
		tainted.Store(weak.Make(ctx), struct{}{})
		anyTainted.Store(true)
	}
}

// Tainted reports whether an evaluation of ctx was stopped: its values may
// be partly evaluated.
func Tainted(ctx *cue.Context) bool {
	if ctx == nil || !anyTainted.Load() {
		return false
	}
	_, ok := tainted.Load(weak.Make(ctx))
	return ok
}
