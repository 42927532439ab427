package serial

import (
	"sync"
	"testing"
	"time"

	"cuelang.org/go/cue/cuecontext"
)

func never() (string, bool) { return "", false }

func TestOfIsOneLockPerContext(t *testing.T) {
	a, b := cuecontext.New(), cuecontext.New()
	if Of(a) != Of(a) || Of(a) == Of(b) {
		t.Fatal("want the same lock for a context, another for another")
	}
	if s := SetOf(Of(b), Of(a), Of(b)); len(s) != 2 || s[0].id > s[1].id {
		t.Fatalf("SetOf = %v: want two locks in taking order", s)
	}
}

// Two calls taking the same two locks, given in either order, never wait
// for each other in a cycle.
func TestHoldTakesLocksInOneOrder(t *testing.T) {
	a, b := Of(cuecontext.New()), Of(cuecontext.New())
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, set := range []Set{SetOf(a, b), SetOf(b, a), Set{a}.Union(Set{b})} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				release, _ := set.Hold(never)
				release()
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock")
	}
}

// A wait ends with the stop's reason, holding nothing.
func TestHoldGivesUpWhenStopped(t *testing.T) {
	a, b := Of(cuecontext.New()), Of(cuecontext.New())
	release, _ := Set{b}.Hold(never)
	start := time.Now()
	stopAt := start.Add(20 * time.Millisecond)
	_, reason := SetOf(a, b).Hold(func() (string, bool) { return "timeout", time.Now().After(stopAt) })
	if reason != "timeout" || time.Since(start) > 5*time.Second {
		t.Fatalf("reason %q after %v", reason, time.Since(start))
	}
	release()
	// a was let go: both are free again
	again, reason := SetOf(a, b).Hold(never)
	if reason != "" {
		t.Fatal(reason)
	}
	again()
}

// Waiters are served: one holding the lock over and over does not keep
// another from it.
func TestHoldServesAWaiter(t *testing.T) {
	a := Set{Of(cuecontext.New())}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			release, _ := a.Hold(never)
			time.Sleep(100 * time.Microsecond)
			release()
		}
	}()
	defer close(stop)
	for range 20 {
		start := time.Now()
		release, _ := a.Hold(never)
		release()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("waited %v", d)
		}
	}
}
