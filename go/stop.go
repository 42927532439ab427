package main

// #include "cuepy.h"
import "C"

import (
	"time"

	"cuepy.dev/libcue/internal/stop"
)

//export cue_set_max_depth
func cue_set_max_depth(n C.int64_t) (previous C.int64_t) {
	defer func() { _ = recover() }()
	return C.int64_t(stop.SetMaxDepth(int64(n)))
}

//export cue_stop_after
func cue_stop_after(tid C.int64_t, nanoseconds C.int64_t) {
	defer func() { _ = recover() }()
	stop.After(int(tid), time.Duration(nanoseconds))
}

//export cue_stop_interrupt
func cue_stop_interrupt(tid C.int64_t) {
	defer func() { _ = recover() }()
	stop.Interrupt(int(tid))
}

//export cue_stop_deadline_clear
func cue_stop_deadline_clear(tid C.int64_t) {
	defer func() { _ = recover() }()
	stop.ClearDeadline(int(tid))
}

//export cue_stop_interrupt_clear
func cue_stop_interrupt_clear(tid C.int64_t) {
	defer func() { _ = recover() }()
	stop.ClearInterrupt(int(tid))
}

//export cue_stop_follow
func cue_stop_follow(parent C.int64_t) {
	defer func() { _ = recover() }()
	stop.Follow(stop.Thread(), int(parent))
}
