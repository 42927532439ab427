package main

// #include "cuepy.h"
import "C"

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"cuelabs.dev/go/oci/ociregistry/ocimem"
	"cuelabs.dev/go/oci/ociregistry/ociserver"
	"cuelang.org/go/mod/modconfig"
	"cuelang.org/go/mod/modfile"
	"cuelang.org/go/mod/modregistry"
	"cuelang.org/go/mod/module"
	"cuelang.org/go/mod/modzip"
)

// registryObj is an in-memory OCI registry served over HTTP, for tests and
// for tools that want a private registry inside their own process.
type registryObj struct {
	server *http.Server
}

func (r *registryObj) close() { _ = r.server.Close() }

//export cue_registry_serve
func cue_registry_serve(addr *C.char, out *C.cue_handle, host **C.char) (errh C.cue_handle) {
	defer guard(&errh)
	address := C.GoString(addr)
	if address == "" {
		address = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return fail(withCategory(catLoad, err))
	}
	server := &http.Server{Handler: ociserver.New(ocimem.New(), nil), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(ln) }()
	*out = newHandle(&registryObj{server: server})
	*host = cBytes([]byte(ln.Addr().String()), nil)
	return 0
}

//export cue_registry_publish
func cue_registry_publish(registry, moduleDir, version *C.char) (errh C.cue_handle) {
	defer guard(&errh)
	return fail(withCategory(catLoad, publish(C.GoString(registry), C.GoString(moduleDir), C.GoString(version))))
}

// publish zips the module in dir and pushes it as version to the registry
// named in CUE_REGISTRY syntax ("127.0.0.1:5000+insecure").
func publish(registry, dir, version string) error {
	path := filepath.Join(dir, "cue.mod", "module.cue")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	mf, err := modfile.Parse(data, path)
	if err != nil {
		return err
	}
	mv, err := module.NewVersion(mf.QualifiedModule(), version)
	if err != nil {
		return err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, mv, dir); err != nil {
		return err
	}
	// Each publish has its own connections, closed when it returns. Pushing
	// is POSTs and PUTs, which net/http does not resend once written, so one
	// sent over a pooled keep-alive connection that the registry has since
	// closed (a registry stopped by cue_free, say) would fail with a bare EOF
	// instead of dialing anew and saying why the registry cannot be reached.
	transport := boundedTransport.Clone()
	defer transport.CloseIdleConnections()
	resolver, err := modconfig.NewResolver(&modconfig.Config{CUERegistry: registry, Env: []string{}, Transport: transport})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := modregistry.NewClientWithResolver(resolver)
	if err := client.PutModule(ctx, mv, bytes.NewReader(zip.Bytes()), int64(zip.Len())); err != nil {
		return fmt.Errorf("publishing %v to %s: %w", mv, registry, err)
	}
	return nil
}
