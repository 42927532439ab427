package main

// #include "cuepy.h"
import "C"

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Go reads its environment once, when the runtime starts (for a c-shared
// library: the environment the process started with); a later os.environ
// change in Python never reaches os.Getenv. So each load carries the
// caller's current values of the variables it depends on (loadConfig.Env)
// and they are applied from there:
//
//   - CUE_REGISTRY, CUE_CACHE_DIR, CUE_CONFIG_DIR, HOME, XDG_CACHE_HOME,
//     XDG_CONFIG_HOME: the registry configuration (modconfig);
//   - HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and lower case): the registry
//     transport's proxy;
//   - CUEPY_OFFLINE=1: no registry is contacted;
//   - GOGC, GOMEMLIMIT: the collector's target and soft memory limit, set
//     when they differ from what was last applied (so cuepy.set_gc_percent
//     holds until the variable changes).
var envKeys = []string{
	"CUE_REGISTRY", "CUE_CACHE_DIR", "CUE_CONFIG_DIR", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
	"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
	"CUEPY_OFFLINE", "GOGC", "GOMEMLIMIT",
}

// lookupEnv is the caller's value of key: from env when the caller sent
// one, else the process's.
func lookupEnv(env map[string]string, key string) (string, bool) {
	if env == nil {
		return os.LookupEnv(key)
	}
	v, ok := env[key]
	return v, ok
}

// registryEnv is the environment the registry configuration reads: the
// process's, with the caller's values of envKeys and this call's registry
// and cache directory in place of the process's. Nil: the process's own.
func registryEnv(cfg *loadConfig) []string {
	if cfg.Env == nil && cfg.Registry == "" && cfg.CacheDir == "" {
		return nil
	}
	override := map[string]string{}
	for _, k := range envKeys {
		if v, ok := lookupEnv(cfg.Env, k); ok {
			override[k] = v
		}
	}
	if cfg.Registry != "" {
		override["CUE_REGISTRY"] = cfg.Registry
	}
	if cfg.CacheDir != "" {
		override["CUE_CACHE_DIR"] = cfg.CacheDir
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isEnvKey(k) {
			env = append(env, kv)
		}
	}
	for k, v := range override {
		env = append(env, k+"="+v)
	}
	return env
}

func isEnvKey(k string) bool {
	for _, e := range envKeys {
		if e == k {
			return true
		}
	}
	return false
}

// offline reports whether this load may contact no registry.
func offline(cfg *loadConfig) bool {
	if cfg.Offline {
		return true
	}
	v, _ := lookupEnv(cfg.Env, "CUEPY_OFFLINE")
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// proxyKey is a proxy configuration; transports are shared per key.
type proxyKey struct{ http, https, no string }

var (
	transportsMu sync.Mutex
	transports   = map[proxyKey]*http.Transport{}
)

// registryTransport is the bounded transport (a registry that stops
// answering does not hang a load) with the caller's proxy configuration.
func registryTransport(cfg *loadConfig) http.RoundTripper {
	if offline(cfg) {
		return offlineTransport{}
	}
	get := func(upper, lower string) string {
		if v, ok := lookupEnv(cfg.Env, upper); ok && v != "" {
			return v
		}
		v, _ := lookupEnv(cfg.Env, lower)
		return v
	}
	key := proxyKey{get("HTTP_PROXY", "http_proxy"), get("HTTPS_PROXY", "https_proxy"), get("NO_PROXY", "no_proxy")}
	transportsMu.Lock()
	defer transportsMu.Unlock()
	if t, ok := transports[key]; ok {
		return t
	}
	t := newBoundedTransport(key)
	transports[key] = t
	return t
}

func newBoundedTransport(key proxyKey) *http.Transport {
	proxy := (&httpproxy.Config{HTTPProxy: key.http, HTTPSProxy: key.https, NoProxy: key.no}).ProxyFunc()
	return &http.Transport{
		Proxy:                 func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       30 * time.Second,
	}
}

// offlineTransport refuses every request, naming the module it was for.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	what := r.URL.Path
	if rest, ok := strings.CutPrefix(what, "/v2/"); ok {
		for _, sep := range []string{"/manifests/", "/tags/", "/blobs/", "/referrers/"} {
			if repo, tag, found := strings.Cut(rest, sep); found {
				what = "module " + repo
				if sep == "/manifests/" {
					what += "@" + tag
				}
				break
			}
		}
	}
	return nil, fmt.Errorf("offline (offline=True or CUEPY_OFFLINE): not fetching %s from registry %s", what, r.URL.Host)
}

// The GOGC and GOMEMLIMIT values last applied (initially the start-up
// environment's, which the runtime applied itself).
var (
	runtimeEnvMu           sync.Mutex
	lastGOGC, lastMemLimit = envState("GOGC"), envState("GOMEMLIMIT")
)

type envValue struct {
	value string
	set   bool
}

func envState(key string) envValue {
	v, ok := os.LookupEnv(key)
	return envValue{v, ok && v != ""}
}

// applyRuntimeEnv applies the caller's GOGC and GOMEMLIMIT when they
// changed since last applied. Invalid values are ignored, as the Go
// runtime ignores them at start-up.
func applyRuntimeEnv(env map[string]string) {
	if env == nil {
		return
	}
	runtimeEnvMu.Lock()
	defer runtimeEnvMu.Unlock()
	gogc, ok := env["GOGC"]
	if now := (envValue{gogc, ok && gogc != ""}); now != lastGOGC {
		lastGOGC = now
		switch {
		case !now.set:
			debug.SetGCPercent(defaultGCPercent)
		case strings.EqualFold(gogc, "off"):
			debug.SetGCPercent(-1)
		default:
			if p, err := strconv.Atoi(gogc); err == nil {
				debug.SetGCPercent(p)
			}
		}
	}
	limit, ok := env["GOMEMLIMIT"]
	if now := (envValue{limit, ok && limit != ""}); now != lastMemLimit {
		lastMemLimit = now
		if !now.set {
			debug.SetMemoryLimit(math.MaxInt64)
		} else if n, ok := parseByteCount(limit); ok {
			debug.SetMemoryLimit(n)
		}
	}
}

// parseByteCount reads GOMEMLIMIT's syntax: "off", or a number of bytes
// with an optional unit (B, KiB, MiB, GiB, TiB).
func parseByteCount(s string) (int64, bool) {
	if s == "off" {
		return math.MaxInt64, true
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > math.MaxInt64/mult) {
		return 0, false
	}
	return n * mult, true
}

//export cue_set_memory_limit
func cue_set_memory_limit(limit C.int64_t) (previous C.int64_t) {
	previous = -1
	defer func() { _ = recover() }()
	return C.int64_t(debug.SetMemoryLimit(int64(limit)))
}
