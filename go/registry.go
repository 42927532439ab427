package main

// #include "cuepy.h"
import "C"

import (
	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/registry"
)

//export cue_registry_serve
func cue_registry_serve(addr *C.char, out *C.cue_handle, host **C.char) (errh C.cue_handle) {
	defer guard(&errh)
	return serveRegistry(registry.Config{Address: C.GoString(addr)}, out, host)
}

//export cue_registry_serve_with
func cue_registry_serve_with(cfgJSON *C.char, n C.size_t, out *C.cue_handle, host **C.char) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg registry.Config
	if err := readConfig(cfgJSON, n, &cfg); err != nil {
		return fail(cueerr.Usagef("invalid registry configuration: %v", err))
	}
	return serveRegistry(cfg, out, host)
}

// serveRegistry starts a registry and hands out its handle and address.
func serveRegistry(cfg registry.Config, out *C.cue_handle, host **C.char) C.cue_handle {
	srv, err := registry.Serve(cfg)
	if err != nil {
		return fail(err)
	}
	*out = newHandle(srv)
	*host = cBytes([]byte(srv.Addr()), nil)
	return 0
}

//export cue_registry_publish
func cue_registry_publish(reg, moduleDir, version *C.char) (errh C.cue_handle) {
	defer guard(&errh)
	return fail(registry.Publish(C.GoString(reg), C.GoString(moduleDir), C.GoString(version), ""))
}

//export cue_registry_push
func cue_registry_push(cfgJSON *C.char, n C.size_t) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg registry.PushConfig
	if err := readConfig(cfgJSON, n, &cfg); err != nil {
		return fail(cueerr.Usagef("invalid publish configuration: %v", err))
	}
	return fail(registry.Publish(cfg.Registry, cfg.Dir, cfg.Version, cfg.Token))
}
