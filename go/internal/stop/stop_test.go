package stop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

// evaluate compiles and validates src, returning the stop that ended it, if any.
func evaluate(src string) (stopped *cue.CuepyStop, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(cue.CuepyStop)
			if !ok {
				panic(r)
			}
			stopped = &s
		}
	}()
	return nil, cuecontext.New().CompileString(src).Validate(cue.Concrete(true))
}

// chain is n fields each referring to the next (format "%s" for a plain
// reference, "[%s]" for a list holding it): slow (cubic) and deep.
func chain(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d: "+format+"\n", i, fmt.Sprintf("a%d", i+1))
	}
	fmt.Fprintf(&b, "a%d: 1\n", n)
	return b.String()
}

// The two inputs on which CUE v0.17.1 recurses until Go's fatal stack overflow
// stop at the depth bound instead, and the process goes on.
func TestDepthBoundStopsRunawayRecursion(t *testing.T) {
	for _, src := range []string{"x: {if false {b: 1}}\nx: <1\n", "l: [1, l[1:]]\n"} {
		s, _ := evaluate(src)
		if s == nil || s.Reason != Depth || s.Depth != DefaultMaxDepth+1 {
			t.Fatalf("%q: stop %+v, want the depth bound", src, s)
		}
		if err := Error(*s); !strings.Contains(err.Error(), "deeper than 50000 levels") {
			t.Errorf("error %q", err)
		}
		if !Tainted(cue.CuepyStoppedContext(*s)) {
			t.Errorf("the stopped context is not tainted")
		}
	}
	if s, err := evaluate("a: 1, b: a + 1"); s != nil || err != nil {
		t.Fatalf("a plain value: stop %v, error %v", s, err)
	}
}

// A legitimate deep value passes the default bound; a lower bound stops it.
func TestDepthBoundIsSettable(t *testing.T) {
	deep := chain(3000, "[%s]")
	if s, err := evaluate(deep); s != nil || err != nil {
		t.Fatalf("3,000 nested list references: stop %v, error %v", s, err)
	}
	previous := SetMaxDepth(100)
	defer SetMaxDepth(previous)
	if previous != DefaultMaxDepth {
		t.Fatalf("previous bound %d", previous)
	}
	if s, _ := evaluate(deep); s == nil || s.Reason != Depth {
		t.Fatalf("under a bound of 100: stop %+v, want the depth bound", s)
	}
}

// outcome is how an evaluation ended: the stop that ended it, or its error.
type outcome struct {
	stop *cue.CuepyStop
	err  error
}

// onThread evaluates src on a goroutine locked to its own OS thread, after
// arm(tid), and withdraws that thread's stops when done.
func onThread(arm func(tid int), src string) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		defer Adopt(0)() // locks the goroutine to its thread, following nothing
		tid := Thread()
		defer ClearDeadline(tid)
		defer ClearInterrupt(tid)
		arm(tid)
		s, err := evaluate(src)
		done <- outcome{s, err}
	}()
	return done
}

// stopsWithin runs a slow evaluation with onThread and returns the stop.
func stopsWithin(t *testing.T, arm func(tid int)) *cue.CuepyStop {
	t.Helper()
	select {
	case o := <-onThread(arm, chain(3000, "%s")): // some 14 s if nothing stops it
		return o.stop
	case <-time.After(5 * time.Second):
		t.Fatal("the evaluation was not stopped within 5 s")
		return nil
	}
}

func TestDeadlineStopsTheThreadsEvaluation(t *testing.T) {
	s := stopsWithin(t, func(tid int) { After(tid, 200*time.Millisecond) })
	if s == nil || s.Reason != Timeout {
		t.Fatalf("stop %+v, want a timeout", s)
	}
	if err := Error(*s); !strings.Contains(err.Error(), "time limit") {
		t.Errorf("error %q", err)
	}
}

// A deadline and an interrupt are withdrawn each on its own: clearing the
// interrupt leaves the passed deadline in force.
func TestDeadlineOutlivesAClearedInterrupt(t *testing.T) {
	s := stopsWithin(t, func(tid int) {
		Interrupt(tid)
		After(tid, 0)
		ClearInterrupt(tid)
		time.Sleep(10 * time.Millisecond)
	})
	if s == nil || s.Reason != Timeout {
		t.Fatalf("stop %+v, want the timeout", s)
	}
}

func TestInterruptStopsAThreadThatFollows(t *testing.T) {
	parent := make(chan int, 1)
	go func() {
		defer Adopt(0)()
		parent <- Thread()
		time.Sleep(10 * time.Second)
	}()
	p := <-parent
	s := stopsWithin(t, func(tid int) {
		Follow(tid, p)
		time.AfterFunc(200*time.Millisecond, func() { Interrupt(p) })
	})
	ClearInterrupt(p)
	if s == nil || s.Reason != Interrupted {
		t.Fatalf("stop %+v, want an interrupt", s)
	}
}

// A cleared deadline or interrupt stops nothing, even when the timer was due.
func TestClearWithdrawsADeadline(t *testing.T) {
	o := <-onThread(func(tid int) {
		After(tid, time.Millisecond)
		ClearDeadline(tid)
		Interrupt(tid)
		ClearInterrupt(tid)
		time.Sleep(20 * time.Millisecond)
	}, chain(200, "%s"))
	if o.stop != nil || o.err != nil {
		t.Fatalf("stop %v, error %v", o.stop, o.err)
	}
}
