package main

// #include <stdlib.h>
// #include <string.h>
// #include "cuepy.h"
import "C"

import (
	"encoding/json"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"unsafe"
)

// cBytes copies data into C memory, NUL-terminated; the caller frees it
// with cue_free. n, when not nil, receives the length without the NUL.
func cBytes(data []byte, n *C.size_t) *C.char {
	p := (*C.char)(C.malloc(C.size_t(len(data) + 1)))
	if len(data) > 0 {
		C.memcpy(unsafe.Pointer(p), unsafe.Pointer(&data[0]), C.size_t(len(data)))
	}
	*(*byte)(unsafe.Add(unsafe.Pointer(p), len(data))) = 0
	if n != nil {
		*n = C.size_t(len(data))
	}
	return p
}

// putBytes hands data to the caller through out.
func putBytes(out *C.cue_bytes, data []byte, flags C.uint32_t) {
	var n C.size_t
	out.data = cBytes(data, &n)
	out.len, out.flags = n, flags
}

// putHandles copies hs into a C array that the caller frees with cue_free.
func putHandles(out *C.cue_handles, hs []C.cue_handle) {
	size := C.size_t(len(hs)) * C.size_t(unsafe.Sizeof(C.cue_handle(0)))
	p := (*C.cue_handle)(C.malloc(size + 1))
	copy(unsafe.Slice(p, len(hs)), hs)
	out.items, out.len = p, C.size_t(len(hs))
}

// readConfig decodes the n bytes of JSON at p into v, reading them where
// they are: json.Unmarshal copies what it keeps, and the caller's buffer
// lives for the call (a load's configuration holds its overlays, whose two
// copies made a cache hit allocate more than the load it stands for).
func readConfig(p *C.char, n C.size_t, v any) error {
	var data []byte
	if n > 0 {
		data = unsafe.Slice((*byte)(unsafe.Pointer(p)), uint64(n))
	}
	return json.Unmarshal(data, v)
}

// goString copies n bytes at p (of any size, unlike C.GoStringN's int).
func goString(p *C.char, n C.size_t) string {
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(p)), uint64(n)))
}

//export cue_free
func cue_free(p unsafe.Pointer) {
	defer func() { _ = recover() }()
	C.free(p)
}

// Runtime metrics are read without stopping the world, unlike
// runtime.ReadMemStats, so they are cheap enough around every stage.
var metricNames = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/allocs:objects",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/objects:objects",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
	"/gc/gogc:percent",
}

// metricSamples names metricNames once; each read fills a copy.
var metricSamples = func() []metrics.Sample {
	samples := make([]metrics.Sample, len(metricNames))
	for i, name := range metricNames {
		samples[i].Name = name
	}
	return samples
}()

//export cue_read_memstats
func cue_read_memstats(out *C.cue_memstats) {
	defer func() { _ = recover() }()
	samples := slices.Clone(metricSamples) // (metrics.Read writes the values in)
	metrics.Read(samples)
	get := func(i int) C.uint64_t {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return C.uint64_t(samples[i].Value.Uint64())
	}
	out.alloc_bytes, out.alloc_objects = get(0), get(1)
	out.heap_bytes, out.heap_objects = get(2), get(3)
	out.total_bytes, out.gc_cycles = get(4), get(5)
	out.gc_percent = C.int64_t(int64(get(6)))
}

// The collector's target starts at libcuepy's default (package runenv);
// each load applies the caller's GOGC and GOMEMLIMIT when they change.
//
//export cue_set_gc_percent
func cue_set_gc_percent(percent C.int32_t) (previous C.int32_t) {
	previous = -1
	defer func() { _ = recover() }()
	return C.int32_t(debug.SetGCPercent(int(percent)))
}

// cue_gc collects garbage and returns the freed memory to the OS, so that
// what a process's RSS shows afterwards is what it holds.
//
//export cue_gc
func cue_gc() {
	defer func() { _ = recover() }()
	debug.FreeOSMemory()
}

//export cue_set_memory_limit
func cue_set_memory_limit(limit C.int64_t) (previous C.int64_t) {
	previous = -1
	defer func() { _ = recover() }()
	return C.int64_t(debug.SetMemoryLimit(int64(limit)))
}
