package main

// Test-only wrappers around the C ABI.
//
// Go test files cannot import "C", so the tests in *_test.go reach the
// exports through these small Go-typed functions. Each one converts its
// arguments to C types, calls exactly one export, copies what comes back
// into Go values, and frees every piece of C memory it was handed with
// cue_free. An error handle returned by an export is taken (and thereby
// freed) with cue_error_take, and its JSON is returned as a string ("" when
// the export succeeded).
//
// Nothing exported references these functions, so the linker drops them
// from the shared library; they exist only for `go test`.

// #include <stdlib.h>
// #include "cuepy.h"
import "C"

import "unsafe"

// Constants of cuepy.h, as Go values for the tests.
const (
	testABIVersionConst = int32(C.CUEPY_ABI_VERSION)

	testKindNull   = uint32(C.CUE_KIND_NULL)
	testKindBool   = uint32(C.CUE_KIND_BOOL)
	testKindInt    = uint32(C.CUE_KIND_INT)
	testKindFloat  = uint32(C.CUE_KIND_FLOAT)
	testKindString = uint32(C.CUE_KIND_STRING)
	testKindBytes  = uint32(C.CUE_KIND_BYTES)
	testKindStruct = uint32(C.CUE_KIND_STRUCT)
	testKindList   = uint32(C.CUE_KIND_LIST)

	testOptDefinitions = uint32(C.CUE_OPT_DEFINITIONS)
	testOptHidden      = uint32(C.CUE_OPT_HIDDEN)
	testOptOptional    = uint32(C.CUE_OPT_OPTIONAL)
	testOptConcrete    = uint32(C.CUE_OPT_CONCRETE)
	testOptFinal       = uint32(C.CUE_OPT_FINAL)
	testOptDocs        = uint32(C.CUE_OPT_DOCS)
	testOptAttributes  = uint32(C.CUE_OPT_ATTRIBUTES)
	testOptAllErrors   = uint32(C.CUE_OPT_ALL_ERRORS)
	testOptIndent      = uint32(C.CUE_OPT_INDENT)

	testFormatJSON = int32(C.CUE_FORMAT_JSON)
	testFormatYAML = int32(C.CUE_FORMAT_YAML)
	testFormatCUE  = int32(C.CUE_FORMAT_CUE)

	testDecodedJSON      = uint32(C.CUE_DECODED_JSON)
	testDecodedJSONBytes = uint32(C.CUE_DECODED_JSON_BYTES)
	testDecodedString    = uint32(C.CUE_DECODED_STRING)
	testDecodedInt       = uint32(C.CUE_DECODED_INT)
	testDecodedBytes     = uint32(C.CUE_DECODED_BYTES)
)

// testMemstats mirrors cue_memstats.
type testMemstats struct {
	AllocBytes, AllocObjects, HeapBytes, HeapObjects, TotalBytes, GCCycles uint64
}

// testTakeError returns the JSON of error handle h ("" for 0), freeing it.
func testTakeError(h C.cue_handle) string {
	if h == 0 {
		return ""
	}
	return testErrorTake(uint64(h))
}

// testErrorTake calls cue_error_take on any handle, even one that is not an
// error, and returns the JSON it produces.
func testErrorTake(h uint64) string {
	var out C.cue_bytes
	C.cue_error_take(C.cue_handle(h), &out)
	return testBytes(out)
}

// testBytes copies and frees a cue_bytes.
func testBytes(b C.cue_bytes) string {
	if b.data == nil {
		return ""
	}
	s := C.GoStringN(b.data, C.int(b.len))
	C.cue_free(unsafe.Pointer(b.data))
	return s
}

// testHandles copies and frees a cue_handles array (not the handles).
func testHandles(hs C.cue_handles) []uint64 {
	if hs.items == nil {
		return nil
	}
	out := make([]uint64, int(hs.len))
	for i, h := range unsafe.Slice(hs.items, int(hs.len)) {
		out[i] = uint64(h)
	}
	C.cue_free(unsafe.Pointer(hs.items))
	return out
}

// testCString allocates s in C memory; the caller frees it with cue_free.
func testCString(s string) *C.char { return C.CString(s) }

func testFreeC(p *C.char) { C.cue_free(unsafe.Pointer(p)) }

func testABIVersion() int32 { return int32(C.cue_abi_version()) }

func testVersion() string {
	p := C.cue_version()
	defer testFreeC(p)
	return C.GoString(p)
}

// testFree calls cue_handle_free and returns the error JSON, if any.
func testFree(h uint64) string { return testTakeError(C.cue_handle_free(C.cue_handle(h))) }

func testLiveHandles() int64 { return int64(C.cue_live_handles()) }

func testReadMemstats() testMemstats {
	var m C.cue_memstats
	C.cue_read_memstats(&m)
	return testMemstats{
		AllocBytes: uint64(m.alloc_bytes), AllocObjects: uint64(m.alloc_objects),
		HeapBytes: uint64(m.heap_bytes), HeapObjects: uint64(m.heap_objects),
		TotalBytes: uint64(m.total_bytes), GCCycles: uint64(m.gc_cycles),
	}
}

func testGC() { C.cue_gc() }

func testSetGCPercent(p int32) int32 { return int32(C.cue_set_gc_percent(C.int32_t(p))) }

func testContextNew() (uint64, string) {
	var out C.cue_handle
	errh := C.cue_context_new(&out)
	return uint64(out), testTakeError(errh)
}

// testCompile passes src with its length, so it may hold NUL bytes.
func testCompile(ctx uint64, src, filename string) (uint64, string) {
	csrc, cname := testCString(src), testCString(filename)
	defer testFreeC(csrc)
	defer testFreeC(cname)
	var out C.cue_handle
	errh := C.cue_compile(C.cue_handle(ctx), csrc, C.size_t(len(src)), cname, &out)
	return uint64(out), testTakeError(errh)
}

// testCompileRaw is testCompile without taking the error: it returns the raw
// error handle, for tests of error handles themselves.
func testCompileRaw(ctx uint64, src string) (value, errh uint64) {
	csrc := testCString(src)
	defer testFreeC(csrc)
	var out C.cue_handle
	e := C.cue_compile(C.cue_handle(ctx), csrc, C.size_t(len(src)), nil, &out)
	return uint64(out), uint64(e)
}

func testLoad(ctx uint64, configJSON string) (uint64, string) {
	ccfg := testCString(configJSON)
	defer testFreeC(ccfg)
	var out C.cue_handle
	errh := C.cue_load(C.cue_handle(ctx), ccfg, C.size_t(len(configJSON)), &out)
	return uint64(out), testTakeError(errh)
}

func testUnify(values []uint64) (uint64, string) {
	var arr *C.cue_handle
	if len(values) > 0 {
		arr = (*C.cue_handle)(C.malloc(C.size_t(len(values)) * C.size_t(unsafe.Sizeof(C.cue_handle(0)))))
		defer C.cue_free(unsafe.Pointer(arr))
		for i, v := range values {
			unsafe.Slice(arr, len(values))[i] = C.cue_handle(v)
		}
	}
	var out C.cue_handle
	errh := C.cue_unify(arr, C.size_t(len(values)), &out)
	return uint64(out), testTakeError(errh)
}

func testFill(v uint64, path string, x uint64) (uint64, string) {
	cpath := testCString(path)
	defer testFreeC(cpath)
	var out C.cue_handle
	errh := C.cue_fill(C.cue_handle(v), cpath, C.cue_handle(x), &out)
	return uint64(out), testTakeError(errh)
}

// testLookup returns 0 and "" for a field that does not exist.
func testLookup(v uint64, path string) (uint64, string) {
	cpath := testCString(path)
	defer testFreeC(cpath)
	out := C.cue_handle(0xdead) // the export must overwrite it
	errh := C.cue_lookup(C.cue_handle(v), cpath, &out)
	if errh != 0 {
		return 0, testTakeError(errh)
	}
	return uint64(out), ""
}

func testFields(v uint64, opts uint32) (labelsJSON string, values []uint64, err string) {
	var labels C.cue_bytes
	var hs C.cue_handles
	errh := C.cue_fields(C.cue_handle(v), C.uint32_t(opts), &labels, &hs)
	if errh != 0 {
		return "", nil, testTakeError(errh)
	}
	return testBytes(labels), testHandles(hs), ""
}

func testElements(v uint64) ([]uint64, string) {
	var hs C.cue_handles
	errh := C.cue_elements(C.cue_handle(v), &hs)
	if errh != 0 {
		return nil, testTakeError(errh)
	}
	return testHandles(hs), ""
}

func testKind(v uint64) (kind, incompleteKind uint32, concrete bool, err string) {
	var k, ik C.uint32_t
	var c C.int32_t
	errh := C.cue_kind(C.cue_handle(v), &k, &ik, &c)
	return uint32(k), uint32(ik), c != 0, testTakeError(errh)
}

func testDefault(v uint64) (uint64, bool, string) {
	var out C.cue_handle
	var has C.int32_t
	errh := C.cue_default(C.cue_handle(v), &out, &has)
	return uint64(out), has != 0, testTakeError(errh)
}

func testDecode(v uint64) (data string, flags uint32, err string) {
	var out C.cue_bytes
	errh := C.cue_decode(C.cue_handle(v), &out)
	if errh != 0 {
		return "", 0, testTakeError(errh)
	}
	flags = uint32(out.flags)
	return testBytes(out), flags, ""
}

func testExport(v uint64, format int32, opts uint32) (string, string) {
	var out C.cue_bytes
	errh := C.cue_export(C.cue_handle(v), C.int32_t(format), C.uint32_t(opts), &out)
	if errh != 0 {
		return "", testTakeError(errh)
	}
	return testBytes(out), ""
}

func testValidate(v uint64, opts uint32) string {
	return testTakeError(C.cue_validate(C.cue_handle(v), C.uint32_t(opts)))
}

func testSource(v uint64) (string, string) {
	var out C.cue_bytes
	errh := C.cue_source(C.cue_handle(v), &out)
	if errh != 0 {
		return "", testTakeError(errh)
	}
	return testBytes(out), ""
}

func testRegistryServe(addr string) (reg uint64, host string, err string) {
	caddr := testCString(addr)
	defer testFreeC(caddr)
	var out C.cue_handle
	var chost *C.char
	errh := C.cue_registry_serve(caddr, &out, &chost)
	if errh != 0 {
		return 0, "", testTakeError(errh)
	}
	host = C.GoString(chost)
	testFreeC(chost)
	return uint64(out), host, ""
}

func testRegistryPublish(registry, moduleDir, version string) string {
	creg, cdir, cver := testCString(registry), testCString(moduleDir), testCString(version)
	defer testFreeC(creg)
	defer testFreeC(cdir)
	defer testFreeC(cver)
	return testTakeError(C.cue_registry_publish(creg, cdir, cver))
}

func testEvaluate(v uint64, expr, filename string) (uint64, string) {
	cexpr, cname := testCString(expr), testCString(filename)
	defer testFreeC(cexpr)
	defer testFreeC(cname)
	var out C.cue_handle
	errh := C.cue_evaluate(C.cue_handle(v), cexpr, C.size_t(len(expr)), cname, &out)
	return uint64(out), testTakeError(errh)
}

// testVet: concrete < 0 for vet's default, 0 for -c=false, 1 for -c.
func testVet(ctx uint64, configJSON string, concrete int32) string {
	ccfg := testCString(configJSON)
	defer testFreeC(ccfg)
	return testTakeError(C.cue_vet(C.cue_handle(ctx), ccfg, C.size_t(len(configJSON)), C.int32_t(concrete)))
}
