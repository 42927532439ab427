package main

// #include "cuepy.h"
import "C"

import (
	_ "unsafe" // for go:linkname

	"cuelang.org/go/cue/stats"
)

// CUE keeps its evaluator counters in an internal package and exposes them
// only to the cue command; no public API reaches them in v0.17.1. We read
// the same process-wide total the command prints for --stats.
//
//go:linkname adtTotalStats cuelang.org/go/internal/core/adt.TotalStats
func adtTotalStats() stats.Counts

//export cue_read_eval_stats
func cue_read_eval_stats(out *C.cue_eval_stats) {
	defer func() { _ = recover() }()
	c := adtTotalStats()
	out.unifications, out.disjuncts = C.int64_t(c.Unifications), C.int64_t(c.Disjuncts)
	out.conjuncts, out.notifications = C.int64_t(c.Conjuncts), C.int64_t(c.Notifications)
	out.allocs, out.reused = C.int64_t(c.Allocs), C.int64_t(c.Reused)
	out.freed, out.retained = C.int64_t(c.Freed), C.int64_t(c.Retained)
}
