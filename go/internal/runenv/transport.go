package runenv

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// proxyKey is a proxy configuration; transports are shared per key.
type proxyKey struct{ http, https, no string }

var (
	transportsMu sync.Mutex
	transports   = map[proxyKey]*http.Transport{}
)

// RegistryTransport is the bounded transport (a registry that stops
// answering does not hang a load) with the caller's proxy configuration
// from env; a transport that refuses every request when the load is
// offline (CUEPY_OFFLINE in env, or off).
func RegistryTransport(env map[string]string, off bool) http.RoundTripper {
	if offline(env, off) {
		return offlineTransport{}
	}
	get := func(upper, lower string) string {
		if v, ok := lookupEnv(env, upper); ok && v != "" {
			return v
		}
		v, _ := lookupEnv(env, lower)
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

// direct is the bounded transport without a proxy.
var direct = newBoundedTransport(proxyKey{})

// DirectTransport is a transport of its own (a clone, with no connection
// yet), bounded and without a proxy: for publishing to cuepy's own registry.
func DirectTransport() *http.Transport { return direct.Clone() }

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
