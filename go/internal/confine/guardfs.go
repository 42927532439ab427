package confine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// FS is the filesystem cue/load reads through (load.Config.FS), rooted
// at the host's "/": every file a load reads (package files, named files,
// cue.mod/module.cue, @embed-ed files, the data files cuepy decodes itself)
// is opened here, so it is checked before a byte is read:
//
//   - only regular files are read: a device (a link to /dev/zero), a FIFO
//     or a socket is refused (reading one could exhaust memory or block
//     forever). The file is opened non-blocking and checked with fstat on
//     the descriptor that is then read, so it cannot be swapped in between;
//   - below the main module's root, a file reached through a symbolic link
//     that leads outside the root (or loops) is refused, as Check would
//     refuse it after the load, but before it is parsed (a syntax error
//     would otherwise quote it).
//
// Overlays live here too (load.Config.Overlay and FS are exclusive): an
// overlaid file replaces the one on disk and its directories exist.
type FS struct {
	root, realRoot string              // the main module's root ("": no module)
	overlay        map[string]string   // clean absolute path -> content (the caller's, not copied)
	dirs           map[string][]string // directory -> overlaid names in it
}

// NewFS is the filesystem of a load whose main module has its root at root
// ("": no module), with overlay (absolute path -> content) in place.
func NewFS(root string, overlay map[string]string) *FS {
	g := &FS{overlay: map[string]string{}, dirs: map[string][]string{}}
	if root != "" {
		g.root = filepath.Clean(root)
		g.realRoot = g.root
		if real, err := filepath.EvalSymlinks(g.root); err == nil {
			g.realRoot = real
		}
	}
	for name, src := range overlay {
		name = filepath.Clean(name)
		g.overlay[name] = src
		for child, dir := name, filepath.Dir(name); dir != child; child, dir = dir, filepath.Dir(dir) {
			if !slices.Contains(g.dirs[dir], filepath.Base(child)) {
				g.dirs[dir] = append(g.dirs[dir], filepath.Base(child))
			}
		}
	}
	return g
}

// osPath is the host path of an fs.FS name ("." is "/").
func (g *FS) osPath(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "/", nil
	}
	return "/" + name, nil
}

// refusal is a load error naming the path; cue/load passes it on.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// checkLinks refuses a path below the root whose symbolic links lead out.
func (g *FS) checkLinks(path string) error {
	if g.root == "" || !within(g.root, path) {
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if _, err := os.Stat(path); err != nil {
			return err // "no such file", "too many levels of symbolic links"
		}
		return &refusal{fmt.Sprintf("%s: cannot resolve symbolic link: %v", path, err)}
	}
	if !within(g.realRoot, real) {
		return &refusal{fmt.Sprintf("%s: symbolic link to %s, outside the module root %s", path, real, g.root)}
	}
	return nil
}

// openRegular opens path for reading if it is a regular file or a directory.
func (g *FS) openRegular(path string) (*os.File, fs.FileInfo, error) {
	if info, err := os.Stat(path); err == nil {
		if err := regularOrDir(path, info); err != nil {
			return nil, nil, err // (a socket cannot even be opened: say what it is)
		}
	}
	if err := g.checkLinks(path); err != nil {
		return nil, nil, err
	}
	// O_NONBLOCK: opening a FIFO with no writer must not block.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if err := regularOrDir(path, info); err != nil { // checked again on what is read
		_ = f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

func regularOrDir(path string, info fs.FileInfo) error {
	if info.Mode().IsRegular() || info.IsDir() {
		return nil
	}
	return &refusal{fmt.Sprintf("%s: not a regular file (%s); cuepy reads only regular files", path, fileKind(info.Mode()))}
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}

// ReadPath reads a host path through the guard (overlay first).
func (g *FS) ReadPath(path string) ([]byte, error) {
	path = filepath.Clean(path)
	if src, ok := g.overlay[path]; ok {
		return []byte(src), nil
	}
	f, _, err := g.openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Open implements fs.FS.
func (g *FS) Open(name string) (fs.File, error) {
	path, err := g.osPath("open", name)
	if err != nil {
		return nil, err
	}
	if src, ok := g.overlay[path]; ok {
		return &memFile{Reader: strings.NewReader(src), info: memInfo{name: filepath.Base(path), size: int64(len(src))}}, nil
	}
	f, _, err := g.openRegular(path)
	if err != nil {
		if _, virtual := g.dirs[path]; virtual && errors.Is(err, fs.ErrNotExist) {
			return &memFile{Reader: strings.NewReader(""), info: memInfo{name: filepath.Base(path), dir: true}}, nil
		}
		return nil, err
	}
	return f, nil
}

// ReadFile implements fs.ReadFileFS.
func (g *FS) ReadFile(name string) ([]byte, error) {
	path, err := g.osPath("read", name)
	if err != nil {
		return nil, err
	}
	return g.ReadPath(path)
}

// Stat implements fs.StatFS.
func (g *FS) Stat(name string) (fs.FileInfo, error) {
	return g.stat(name, os.Stat)
}

// Lstat implements fs.ReadLinkFS.
func (g *FS) Lstat(name string) (fs.FileInfo, error) {
	return g.stat(name, os.Lstat)
}

func (g *FS) stat(name string, stat func(string) (fs.FileInfo, error)) (fs.FileInfo, error) {
	path, err := g.osPath("stat", name)
	if err != nil {
		return nil, err
	}
	if src, ok := g.overlay[path]; ok {
		return memInfo{name: filepath.Base(path), size: int64(len(src))}, nil
	}
	info, err := stat(path)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		if _, virtual := g.dirs[path]; virtual {
			return memInfo{name: filepath.Base(path), dir: true}, nil
		}
	}
	return info, err
}

// ReadLink implements fs.ReadLinkFS.
func (g *FS) ReadLink(name string) (string, error) {
	path, err := g.osPath("readlink", name)
	if err != nil {
		return "", err
	}
	return os.Readlink(path)
}

// ReadDir implements fs.ReadDirFS: the host's listing with the overlaid
// names added (an overlaid name replaces the host's entry).
func (g *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	path, err := g.osPath("readdir", name)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(path)
	extra, virtual := g.dirs[path]
	if err != nil && !(virtual && errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	if !virtual {
		return entries, nil
	}
	byName := map[string]int{}
	for i, e := range entries {
		byName[e.Name()] = i
	}
	for _, n := range extra {
		child := filepath.Join(path, n)
		var e fs.DirEntry
		if src, ok := g.overlay[child]; ok {
			e = fs.FileInfoToDirEntry(memInfo{name: n, size: int64(len(src))})
		} else {
			e = fs.FileInfoToDirEntry(memInfo{name: n, dir: true})
		}
		if i, ok := byName[n]; ok {
			if !entries[i].IsDir() || !e.IsDir() {
				entries[i] = e
			}
		} else {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// memFile is an overlaid file (or a directory that exists only for one).
type memFile struct {
	*strings.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
