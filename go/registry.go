package main

// #include "cuepy.h"
import "C"

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	return serveRegistry(registryConfig{Address: C.GoString(addr)}, out, host)
}

// registryConfig is the JSON document cue_registry_serve_with takes.
type registryConfig struct {
	// Address is a loopback host:port ("127.0.0.1:0" when empty).
	Address string `json:"address"`
	// Token, when set, must be presented (HTTP Bearer, or Basic with it as
	// the password) by every request that writes; reads stay open.
	Token string `json:"token"`
	// MaxBytes bounds the bytes pushes may send in all (0: the default).
	MaxBytes int64 `json:"max_bytes"`
}

// defaultRegistryMaxBytes bounds what a served registry stores by default.
const defaultRegistryMaxBytes = 256 << 20

//export cue_registry_serve_with
func cue_registry_serve_with(cfgJSON *C.char, n C.size_t, out *C.cue_handle, host **C.char) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg registryConfig
	if err := json.Unmarshal([]byte(goString(cfgJSON, n)), &cfg); err != nil {
		return fail(usageErrorf("invalid registry configuration: %v", err))
	}
	return serveRegistry(cfg, out, host)
}

func serveRegistry(cfg registryConfig, out *C.cue_handle, host **C.char) C.cue_handle {
	address := cfg.Address
	if address == "" {
		address = "127.0.0.1:0"
	}
	if err := checkLoopback(address); err != nil {
		return fail(err)
	}
	if cfg.MaxBytes < 0 {
		return fail(usageErrorf("max_bytes must not be negative"))
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = defaultRegistryMaxBytes
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return fail(withCategory(catLoad, err))
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return fail(usageErrorf("registry address %s is not a loopback address", ln.Addr()))
	}
	// ImmutableTags: a published version cannot be replaced by other content.
	backend := ocimem.NewWithConfig(&ocimem.Config{ImmutableTags: true})
	handler := &guardedRegistry{next: ociserver.New(backend, nil), token: cfg.Token, left: cfg.MaxBytes, max: cfg.MaxBytes}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(ln) }()
	*out = newHandle(&registryObj{server: server})
	*host = cBytes([]byte(ln.Addr().String()), nil)
	return 0
}

// checkLoopback refuses an address that is not on a loopback interface
// (the registry has no TLS and, by default, no authentication).
func checkLoopback(address string) error {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return usageErrorf("registry address %q: %v", address, err)
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return usageErrorf("registry address %q is not a loopback address (127.0.0.1, ::1 or localhost): "+
		"cuepy.Registry serves plain HTTP for this machine only", address)
}

// guardedRegistry checks the token on writes and bounds the bytes pushed.
type guardedRegistry struct {
	next  http.Handler
	token string
	mu    sync.Mutex
	left  int64 // bytes pushes may still send
	max   int64
}

func (g *guardedRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		g.next.ServeHTTP(w, r)
		return
	}
	if g.token != "" && !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="cuepy"`)
		writeOCIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "this registry requires its token to push")
		return
	}
	r.Body = &boundedBody{ReadCloser: r.Body, g: g}
	if r.ContentLength > 0 && !g.take(r.ContentLength) {
		writeOCIError(w, http.StatusRequestEntityTooLarge, "DENIED", fmt.Sprintf("this registry stores at most %d bytes", g.max))
		return
	}
	if r.ContentLength > 0 {
		r.Body.(*boundedBody).counted = true
	}
	g.next.ServeHTTP(w, r)
}

func (g *guardedRegistry) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	want := []byte(g.token)
	if bearer, ok := strings.CutPrefix(auth, "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(bearer), want) == 1
	}
	if _, password, ok := r.BasicAuth(); ok {
		return subtle.ConstantTimeCompare([]byte(password), want) == 1
	}
	return false
}

// take reserves n bytes of the bound.
func (g *guardedRegistry) take(n int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n > g.left {
		return false
	}
	g.left -= n
	return true
}

// boundedBody charges a body of unknown length as it is read.
type boundedBody struct {
	io.ReadCloser
	g       *guardedRegistry
	counted bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.counted && n > 0 && !b.g.take(int64(n)) {
		return 0, fmt.Errorf("this registry stores at most %d bytes", b.g.max)
	}
	return n, err
}

func writeOCIError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}

//export cue_registry_publish
func cue_registry_publish(registry, moduleDir, version *C.char) (errh C.cue_handle) {
	defer guard(&errh)
	return fail(withCategory(catLoad, publish(C.GoString(registry), C.GoString(moduleDir), C.GoString(version), "")))
}

// pushConfig is the JSON document cue_registry_push takes.
type pushConfig struct {
	Registry string `json:"registry"`
	Dir      string `json:"dir"`
	Version  string `json:"version"`
	Token    string `json:"token"`
}

//export cue_registry_push
func cue_registry_push(cfgJSON *C.char, n C.size_t) (errh C.cue_handle) {
	defer guard(&errh)
	var cfg pushConfig
	if err := json.Unmarshal([]byte(goString(cfgJSON, n)), &cfg); err != nil {
		return fail(usageErrorf("invalid publish configuration: %v", err))
	}
	return fail(withCategory(catLoad, publish(cfg.Registry, cfg.Dir, cfg.Version, cfg.Token)))
}

// publish zips the module in dir and pushes it as version to the registry
// named in CUE_REGISTRY syntax ("127.0.0.1:5000+insecure"), with token (if
// any) as an HTTP Bearer token.
func publish(registry, dir, version, token string) error {
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
	var rt http.RoundTripper = transport
	if token != "" {
		rt = bearer{next: transport, token: token}
	}
	resolver, err := modconfig.NewResolver(&modconfig.Config{CUERegistry: registry, Env: []string{}, Transport: rt})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := modregistry.NewClientWithResolver(resolver)
	if versions, err := client.ModuleVersions(ctx, mv.Path()); err == nil && slices.Contains(versions, mv.Version()) {
		return fmt.Errorf("publishing %v to %s: version %s is already published; a published version is never replaced", mv, registry, mv.Version())
	}
	if err := client.PutModule(ctx, mv, bytes.NewReader(zip.Bytes()), int64(zip.Len())); err != nil {
		return fmt.Errorf("publishing %v to %s: %w", mv, registry, err)
	}
	return nil
}

// bearer adds a Bearer token to every request.
type bearer struct {
	next  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
