package main

// #include "cuepy.h"
import "C"

import (
	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/extract"
)

// options translates cuepy.h's CUE_OPT_* bits.
func options(opts C.uint32_t) extract.Options {
	return extract.Options{
		Definitions: opts&C.CUE_OPT_DEFINITIONS != 0,
		Hidden:      opts&C.CUE_OPT_HIDDEN != 0,
		Optional:    opts&C.CUE_OPT_OPTIONAL != 0,
		Concrete:    opts&C.CUE_OPT_CONCRETE != 0,
		Final:       opts&C.CUE_OPT_FINAL != 0,
		Docs:        opts&C.CUE_OPT_DOCS != 0,
		Attributes:  opts&C.CUE_OPT_ATTRIBUTES != 0,
		AllErrors:   opts&C.CUE_OPT_ALL_ERRORS != 0,
		Indent:      opts&C.CUE_OPT_INDENT != 0,
		IndentWidth: int(opts>>C.CUE_OPT_INDENT_SHIFT) & 0xff,
	}
}

// decodedFlags are cuepy.h's CUE_DECODED_* flags, by extract.Form.
var decodedFlags = map[extract.Form]C.uint32_t{
	extract.FormJSON:      C.CUE_DECODED_JSON,
	extract.FormJSONBytes: C.CUE_DECODED_JSON_BYTES,
	extract.FormString:    C.CUE_DECODED_STRING,
	extract.FormInt:       C.CUE_DECODED_INT,
	extract.FormBytes:     C.CUE_DECODED_BYTES,
}

//export cue_decode
func cue_decode(vh C.cue_handle, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	data, form, err := extract.Decode(obj.v)
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, decodedFlags[form])
	return 0
}

//export cue_export
func cue_export(vh C.cue_handle, formatID C.int32_t, opts C.uint32_t, out *C.cue_bytes) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	var data []byte
	switch formatID {
	case C.CUE_FORMAT_JSON:
		data, err = extract.ExportJSON(obj.v, options(opts), obj.data)
	case C.CUE_FORMAT_YAML:
		data, err = extract.ExportYAML(obj.v, obj.data)
	case C.CUE_FORMAT_CUE:
		data, err = extract.ExportCUE(obj.v, options(opts), obj.data)
	default:
		err = cueerr.Usagef("unknown export format %d", int(formatID))
	}
	if err != nil {
		return fail(err)
	}
	putBytes(out, data, 0)
	return 0
}

//export cue_validate
func cue_validate(vh C.cue_handle, opts C.uint32_t) (errh C.cue_handle) {
	defer guard(&errh)
	obj, release, err := heldValue(vh)
	if err != nil {
		return fail(err)
	}
	defer release()
	return fail(extract.Validate(obj.v, options(opts)))
}
