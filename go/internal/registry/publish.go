package registry

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"cuelang.org/go/mod/modconfig"
	"cuelang.org/go/mod/modfile"
	"cuelang.org/go/mod/modregistry"
	"cuelang.org/go/mod/module"
	"cuelang.org/go/mod/modzip"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/runenv"
)

// PushConfig is the JSON document cue_registry_push takes.
type PushConfig struct {
	Registry string `json:"registry"`
	Dir      string `json:"dir"`
	Version  string `json:"version"`
	Token    string `json:"token"`
}

// Publish zips the module in dir and pushes it as version to the registry
// named in CUE_REGISTRY syntax ("127.0.0.1:5000+insecure"), with token (if
// any) as an HTTP Bearer token. Its errors are load errors.
func Publish(registry, dir, version, token string) error {
	return cueerr.WithCategory(cueerr.Load, publish(registry, dir, version, token))
}

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
	// closed (a registry stopped by cue_handle_free, say) would fail with a
	// bare EOF instead of dialing anew and saying why the registry cannot be
	// reached.
	transport := runenv.DirectTransport()
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
