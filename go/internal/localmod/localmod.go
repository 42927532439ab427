// Package localmod serves CUE modules from directories on disk, in front of
// another registry: a module whose path and version it knows never needs
// the network.
package localmod

import (
	"context"
	"os"
	"path/filepath"

	"cuelang.org/go/mod/modconfig"
	"cuelang.org/go/mod/modfile"
	"cuelang.org/go/mod/module"
)

// Module is a module version whose source is the directory Dir.
type Module struct {
	Version string `json:"version"`
	Dir     string `json:"dir"`
}

// Registry answers for Modules (keyed by module path with major version,
// "example.com/m@v0") and asks Next for everything else.
type Registry struct {
	Modules map[string]Module
	Next    modconfig.Registry
}

func (r *Registry) local(mv module.Version) (Module, bool) {
	m, ok := r.Modules[mv.Path()]
	return m, ok && m.Version == mv.Version()
}

// ModFile implements modconfig.Registry.
func (r *Registry) ModFile(ctx context.Context, mv module.Version) (*modfile.File, error) {
	m, ok := r.local(mv)
	if !ok {
		return r.Next.ModFile(ctx, mv)
	}
	path := filepath.Join(m.Dir, "cue.mod", "module.cue")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(data, path)
}

// Fetch implements modconfig.Registry.
func (r *Registry) Fetch(ctx context.Context, mv module.Version) (module.SourceLoc, error) {
	m, ok := r.local(mv)
	if !ok {
		return r.Next.Fetch(ctx, mv)
	}
	return module.SourceLoc{FS: module.OSDirFS(m.Dir), Dir: "."}, nil
}

// ModuleVersions implements modconfig.Registry.
func (r *Registry) ModuleVersions(ctx context.Context, mpath string) ([]string, error) {
	if m, ok := r.Modules[mpath]; ok {
		return []string{m.Version}, nil
	}
	return r.Next.ModuleVersions(ctx, mpath)
}
