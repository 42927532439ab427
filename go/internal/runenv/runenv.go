// Package runenv applies the caller's environment to one call. Go reads
// its environment once, when the runtime starts (for a c-shared library:
// the environment the process started with); a later os.environ change in
// Python never reaches os.Getenv. So each load carries the caller's current
// values of the variables it depends on (loader.Config.Env) and they are
// applied from there:
//
//   - CUE_REGISTRY, CUE_CACHE_DIR, CUE_CONFIG_DIR, HOME, XDG_CACHE_HOME,
//     XDG_CONFIG_HOME: the registry configuration (RegistryEnv);
//   - HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and lower case): the registry
//     transport's proxy (RegistryTransport);
//   - CUEPY_OFFLINE=1: no registry is contacted (RegistryTransport);
//   - GOGC, GOMEMLIMIT: the collector's target and soft memory limit, set
//     when they differ from what was last applied (ApplyRuntime; so
//     cuepy.set_gc_percent holds until the variable changes).
package runenv

import (
	"os"
	"strings"
)

// envKeys are the variables a load depends on.
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

// RegistryEnv is the environment the registry configuration reads: the
// process's, with the caller's values of the variables of env (nil: the
// process's) and this call's registry and cache directory (when not "") in
// place of the process's. Nil: the process's own.
func RegistryEnv(env map[string]string, registry, cacheDir string) []string {
	if env == nil && registry == "" && cacheDir == "" {
		return nil
	}
	override := map[string]string{}
	for _, k := range envKeys {
		if v, ok := lookupEnv(env, k); ok {
			override[k] = v
		}
	}
	if registry != "" {
		override["CUE_REGISTRY"] = registry
	}
	if cacheDir != "" {
		override["CUE_CACHE_DIR"] = cacheDir
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isEnvKey(k) {
			out = append(out, kv)
		}
	}
	for k, v := range override {
		out = append(out, k+"="+v)
	}
	return out
}

func isEnvKey(k string) bool {
	for _, e := range envKeys {
		if e == k {
			return true
		}
	}
	return false
}

// offline reports whether a load may contact no registry: off (the load's
// own switch) or CUEPY_OFFLINE in env say so.
func offline(env map[string]string, off bool) bool {
	if off {
		return true
	}
	v, _ := lookupEnv(env, "CUEPY_OFFLINE")
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}
