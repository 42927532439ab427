package main

import (
	"bytes"
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
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// confine checks what a load read. Number literals everywhere are in CUE's
// range (go/numbers.go). From the main module (the module of the loaded
// package, or the load directory when there is no module):
//
//   - every file, overlay and named data file lies inside the module root:
//     no "..", no absolute path elsewhere, no symbolic link that leads out
//     of it (or loops);
//   - a package that embeds files (@extern(embed)) has no such link below
//     its directory, since @embed follows links;
//   - every CUE file is valid UTF-8: cue/load reads files through a decoder
//     that turns invalid bytes into U+FFFD silently, where compile rejects
//     them.
//
// Imported packages of other modules (the registry cache, local modules)
// are not the caller's to police and are not checked.
func confine(inst *build.Instance, cfg *loadConfig) error {
	root := inst.Root
	if root == "" {
		return nil
	}
	root = filepath.Clean(root)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		realRoot = root
	}
	c := &confiner{root: root, realRoot: realRoot, overlay: cfg.Overlay, guard: cfg.guard, walked: map[string]bool{}}
	for path := range cfg.Overlay {
		if !within(root, filepath.Clean(path)) {
			return withCategory(catLoad, fmt.Errorf("overlay %s: path is outside the module root %s", path, root))
		}
	}
	named := namedFiles(cfg)
	for _, f := range inst.OrphanedFiles {
		if named[f.Filename] {
			if err := c.file(f); err != nil {
				return err
			}
		}
	}
	if err := checkInstanceNumbers(inst); err != nil {
		return err
	}
	return eachInstance(inst, func(i *build.Instance) (bool, error) {
		// cue/load gives every instance the main module's root; packages
		// of other modules live in directories of their own.
		if i != inst && !within(root, filepath.Clean(i.Dir)) {
			return false, nil
		}
		for _, f := range i.BuildFiles {
			if err := c.file(f); err != nil {
				return false, err
			}
		}
		for _, f := range i.Files {
			if usesEmbed(f) {
				if err := c.tree(filepath.Dir(f.Filename)); err != nil {
					return false, err
				}
			}
		}
		return true, nil
	})
}

type confiner struct {
	root, realRoot string
	overlay        map[string]string
	guard          *guardFS
	walked         map[string]bool
}

// within reports whether path is root or below it (both clean).
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (c *confiner) outside(path string) error {
	return withCategory(catLoad, fmt.Errorf("%s: path is outside the module root %s", path, c.root))
}

// link checks that the symbolic links on the way to path stay inside the
// module root.
func (c *confiner) link(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return withCategory(catLoad, fmt.Errorf("%s: cannot resolve symbolic link: %w", path, err))
	}
	if !within(c.realRoot, real) {
		return withCategory(catLoad, fmt.Errorf("%s: symbolic link to %s, outside the module root %s", path, real, c.root))
	}
	return nil
}

func (c *confiner) file(f *build.File) error {
	name := filepath.Clean(f.Filename)
	if !filepath.IsAbs(name) {
		return nil // stdin or a name without a file behind it
	}
	if !within(c.root, name) {
		return c.outside(name)
	}
	src, isOverlay := c.overlay[name]
	if !isOverlay {
		if err := c.link(name); err != nil {
			return err
		}
	}
	if f.Encoding != build.CUE {
		return nil // data files: their decoders reject invalid UTF-8 themselves
	}
	if isOverlay {
		return checkUTF8(name, []byte(src))
	}
	// f.Source holds the text as decoded, invalid bytes already replaced by
	// U+FFFD: only a file whose text has one is read again, raw.
	if data, ok := f.Source.([]byte); ok && !bytes.ContainsRune(data, utf8.RuneError) {
		return nil
	}
	data, err := c.guard.readFile(name)
	if err != nil {
		return nil // cue/load read it; a race with a writer is not ours to report
	}
	return checkUTF8(name, data)
}

// checkUTF8 reports the first invalid byte of src as a syntax error.
func checkUTF8(name string, src []byte) error {
	if utf8.Valid(src) {
		return nil
	}
	offset := 0
	for offset < len(src) {
		r, size := utf8.DecodeRune(src[offset:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		offset += size
	}
	file := token.NewFile(name, -1, len(src))
	file.SetLinesForContent(src)
	return withCategory(catSyntax, cueerrors.Newf(file.Pos(offset, token.NoRelPos), "illegal UTF-8 encoding"))
}

// usesEmbed reports whether f declares @extern(embed).
func usesEmbed(f *ast.File) bool {
	for _, d := range f.Decls {
		a, ok := d.(*ast.Attribute)
		if !ok {
			continue
		}
		key, body := a.Split()
		if key == "extern" && strings.TrimSpace(body) == "embed" {
			return true
		}
	}
	return false
}

// tree checks every symbolic link below dir (nested modules aside), as
// @embed may read any file there.
func (c *confiner) tree(dir string) error {
	if c.walked[dir] {
		return nil
	}
	c.walked[dir] = true
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries cannot be embedded either
		}
		if d.IsDir() && path != dir {
			if _, err := os.Stat(filepath.Join(path, "cue.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return c.link(path)
		}
		return nil
	})
}

// checkInstanceNumbers runs checkNumbers on the files of inst and of every
// package it imports whose source has a long exponent.
func checkInstanceNumbers(inst *build.Instance) error {
	return eachInstance(inst, func(i *build.Instance) (bool, error) {
		for k, f := range i.Files {
			src, ok := []byte(nil), false
			if k < len(i.BuildFiles) {
				src, ok = i.BuildFiles[k].Source.([]byte)
			}
			if !ok || hasLongExponent(src) {
				if err := checkNumbers(f); err != nil {
					return false, err
				}
			}
		}
		return true, nil
	})
}

// guardFS is the filesystem cue/load reads through (load.Config.FS), rooted
// at the host's "/": every file a load reads (package files, named files,
// cue.mod/module.cue, @embed-ed files, the data files cuepy decodes itself)
// is opened here, so it is checked before a byte is read:
//
//   - only regular files are read: a device (a link to /dev/zero), a FIFO
//     or a socket is refused (reading one could exhaust memory or block
//     forever). The file is opened non-blocking and checked with fstat on
//     the descriptor that is then read, so it cannot be swapped in between;
//   - below the main module's root, a file reached through a symbolic link
//     that leads outside the root (or loops) is refused, as confine would
//     refuse it after the load, but before it is parsed (a syntax error
//     would otherwise quote it).
//
// Overlays live here too (load.Config.Overlay and FS are exclusive): an
// overlaid file replaces the one on disk and its directories exist.
type guardFS struct {
	root, realRoot string              // the main module's root ("": no module)
	overlay        map[string][]byte   // clean absolute path -> content
	dirs           map[string][]string // directory -> overlaid names in it
}

func newGuardFS(root string, overlay map[string]string) *guardFS {
	g := &guardFS{overlay: map[string][]byte{}, dirs: map[string][]string{}}
	if root != "" {
		g.root = filepath.Clean(root)
		g.realRoot = g.root
		if real, err := filepath.EvalSymlinks(g.root); err == nil {
			g.realRoot = real
		}
	}
	for name, src := range overlay {
		name = filepath.Clean(name)
		g.overlay[name] = []byte(src)
		for child, dir := name, filepath.Dir(name); dir != child; child, dir = dir, filepath.Dir(dir) {
			if !slices.Contains(g.dirs[dir], filepath.Base(child)) {
				g.dirs[dir] = append(g.dirs[dir], filepath.Base(child))
			}
		}
	}
	return g
}

// osPath is the host path of an fs.FS name ("." is "/").
func (g *guardFS) osPath(op, name string) (string, error) {
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
func (g *guardFS) checkLinks(path string) error {
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
func (g *guardFS) openRegular(path string) (*os.File, fs.FileInfo, error) {
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

// readFile reads a host path through the guard (overlay first).
func (g *guardFS) readFile(path string) ([]byte, error) {
	path = filepath.Clean(path)
	if src, ok := g.overlay[path]; ok {
		return bytes.Clone(src), nil
	}
	f, _, err := g.openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Open implements fs.FS.
func (g *guardFS) Open(name string) (fs.File, error) {
	path, err := g.osPath("open", name)
	if err != nil {
		return nil, err
	}
	if src, ok := g.overlay[path]; ok {
		return &memFile{Reader: bytes.NewReader(src), info: memInfo{name: filepath.Base(path), size: int64(len(src))}}, nil
	}
	f, _, err := g.openRegular(path)
	if err != nil {
		if _, virtual := g.dirs[path]; virtual && errors.Is(err, fs.ErrNotExist) {
			return &memFile{Reader: bytes.NewReader(nil), info: memInfo{name: filepath.Base(path), dir: true}}, nil
		}
		return nil, err
	}
	return f, nil
}

// ReadFile implements fs.ReadFileFS.
func (g *guardFS) ReadFile(name string) ([]byte, error) {
	path, err := g.osPath("read", name)
	if err != nil {
		return nil, err
	}
	return g.readFile(path)
}

// Stat implements fs.StatFS.
func (g *guardFS) Stat(name string) (fs.FileInfo, error) {
	return g.stat(name, os.Stat)
}

// Lstat implements fs.ReadLinkFS.
func (g *guardFS) Lstat(name string) (fs.FileInfo, error) {
	return g.stat(name, os.Lstat)
}

func (g *guardFS) stat(name string, stat func(string) (fs.FileInfo, error)) (fs.FileInfo, error) {
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
func (g *guardFS) ReadLink(name string) (string, error) {
	path, err := g.osPath("readlink", name)
	if err != nil {
		return "", err
	}
	return os.Readlink(path)
}

// ReadDir implements fs.ReadDirFS: the host's listing with the overlaid
// names added (an overlaid name replaces the host's entry).
func (g *guardFS) ReadDir(name string) ([]fs.DirEntry, error) {
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
	*bytes.Reader
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

// moduleRoot is the directory cue/load takes as the main module's root:
// the nearest one at or above dir holding cue.mod (on disk or overlaid),
// or dir itself.
func moduleRoot(dir string, overlay map[string]string) string {
	dir = filepath.Clean(dir)
	for d := dir; ; {
		mod := filepath.Join(d, "cue.mod")
		if _, err := os.Stat(mod); err == nil {
			return d
		}
		for name := range overlay {
			if strings.HasPrefix(filepath.Clean(name), mod+string(filepath.Separator)) {
				return d
			}
		}
		parent := filepath.Dir(d)
		if parent == d || filepath.Base(parent) == "cue.mod" {
			return dir
		}
		d = parent
	}
}

// preCheck is confine's lexical part, done before cue/load reads anything:
// overlays and the named files lie inside the module root.
func preCheck(cfg *loadConfig, root string) error {
	if !utf8.ValidString(cfg.Dir) {
		return usageErrorf("load directory %q is not valid UTF-8: cue/load cannot read it exactly", cfg.Dir)
	}
	for path := range cfg.Overlay {
		if !within(root, filepath.Clean(path)) {
			return withCategory(catLoad, fmt.Errorf("overlay %s: path is outside the module root %s", path, root))
		}
	}
	for _, arg := range cfg.Args {
		if !utf8.ValidString(arg) {
			return usageErrorf("file %q is not valid UTF-8: cue/load cannot read it exactly", arg)
		}
		if arg == "." || arg == "-" || strings.HasPrefix(arg, "./...") || strings.Contains(arg, "...") {
			continue
		}
		if !isFileArg(arg) {
			continue // a package path
		}
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(cfg.Dir, path)
		}
		if !within(root, filepath.Clean(path)) {
			return withCategory(catLoad, fmt.Errorf("%s: path is outside the module root %s", filepath.Clean(path), root))
		}
	}
	return nil
}

// isFileArg reports whether a load argument names a file (by its
// extension, as cue/load decides) rather than a package.
func isFileArg(arg string) bool {
	ext := filepath.Ext(arg)
	return ext != "" && !strings.Contains(ext, "/") && ext != "."
}
