// Package registry serves an in-memory OCI registry over HTTP on a loopback
// address (Serve), for tests and for tools that want a private registry
// inside their own process, and publishes a module directory to a registry
// (Publish).
package registry

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"cuelabs.dev/go/oci/ociregistry/ocimem"
	"cuelabs.dev/go/oci/ociregistry/ociserver"

	"cuepy.dev/libcue/internal/cueerr"
)

// Config is the JSON document cue_registry_serve_with takes.
type Config struct {
	// Address is a loopback host:port ("127.0.0.1:0" when empty).
	Address string `json:"address"`
	// Token, when set, must be presented (HTTP Bearer, or Basic with it as
	// the password) by every request that writes; reads stay open.
	Token string `json:"token"`
	// MaxBytes bounds the bytes pushes may send in all (0: the default).
	MaxBytes int64 `json:"max_bytes"`
}

// defaultMaxBytes bounds what a served registry stores by default.
const defaultMaxBytes = 256 << 20

// Server is a registry being served; Close stops it.
type Server struct {
	server *http.Server
	addr   string
}

// Addr is the host:port the registry listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops serving.
func (s *Server) Close() { _ = s.server.Close() }

// Serve starts serving an empty registry as cfg says.
func Serve(cfg Config) (*Server, error) {
	address := cfg.Address
	if address == "" {
		address = "127.0.0.1:0"
	}
	if err := checkLoopback(address); err != nil {
		return nil, err
	}
	if cfg.MaxBytes < 0 {
		return nil, cueerr.Usagef("max_bytes must not be negative")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = defaultMaxBytes
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, cueerr.WithCategory(cueerr.Load, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, cueerr.Usagef("registry address %s is not a loopback address", ln.Addr())
	}
	// ImmutableTags: a published version cannot be replaced by other content.
	backend := ocimem.NewWithConfig(&ocimem.Config{ImmutableTags: true})
	handler := &guardedRegistry{next: ociserver.New(backend, nil), token: cfg.Token, left: cfg.MaxBytes, max: cfg.MaxBytes}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(ln) }()
	return &Server{server: server, addr: ln.Addr().String()}, nil
}

// checkLoopback refuses an address that is not on a loopback interface
// (the registry has no TLS and, by default, no authentication).
func checkLoopback(address string) error {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return cueerr.Usagef("registry address %q: %v", address, err)
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return cueerr.Usagef("registry address %q is not a loopback address (127.0.0.1, ::1 or localhost): "+
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
