// Package confine keeps a load to what the caller may read: the
// filesystem cue/load reads through (FS: regular files only, no link out
// of the main module's root, overlays), the lexical checks made before a
// load (PreCheck) and the checks of what it read (Check).
package confine

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"cuepy.dev/libcue/internal/cueerr"
	"cuepy.dev/libcue/internal/numbers"
)

// Check checks what a load read: inst, loaded with overlay through guard,
// and named, the files named in its arguments. Number literals everywhere
// are in CUE's range (package numbers). From the main module (the module
// of the loaded package, or the load directory when there is no module):
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
func Check(inst *build.Instance, overlay map[string]string, named map[string]bool, guard *FS) error {
	root := inst.Root
	if root == "" {
		return nil
	}
	root = filepath.Clean(root)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		realRoot = root
	}
	c := &confiner{root: root, realRoot: realRoot, overlay: overlay, guard: guard, walked: map[string]bool{}}
	for path := range overlay {
		if !within(root, filepath.Clean(path)) {
			return cueerr.WithCategory(cueerr.Load, fmt.Errorf("overlay %s: path is outside the module root %s", path, root))
		}
	}
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
	return EachInstance(inst, func(i *build.Instance) (bool, error) {
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
	guard          *FS
	walked         map[string]bool
}

// within reports whether path is root or below it (both clean).
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (c *confiner) outside(path string) error {
	return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: path is outside the module root %s", path, c.root))
}

// link checks that the symbolic links on the way to path stay inside the
// module root.
func (c *confiner) link(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: cannot resolve symbolic link: %w", path, err))
	}
	if !within(c.realRoot, real) {
		return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: symbolic link to %s, outside the module root %s", path, real, c.root))
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
		if utf8.ValidString(src) { // (no copy of the text unless it has an error to place)
			return nil
		}
		return CheckUTF8(name, []byte(src))
	}
	// f.Source holds the text as decoded, invalid bytes already replaced by
	// U+FFFD: only a file whose text has one is read again, raw.
	if data, ok := f.Source.([]byte); ok && !bytes.ContainsRune(data, utf8.RuneError) {
		return nil
	}
	data, err := c.guard.ReadPath(name)
	if err != nil {
		return nil // cue/load read it; a race with a writer is not ours to report
	}
	return CheckUTF8(name, data)
}

// CheckUTF8 reports the first invalid byte of src as a syntax error.
func CheckUTF8(name string, src []byte) error {
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
	return cueerr.WithCategory(cueerr.Syntax, cueerrors.Newf(file.Pos(offset, token.NoRelPos), "illegal UTF-8 encoding"))
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

// checkInstanceNumbers runs numbers.Check on the files of inst and of every
// package it imports whose source has a long exponent.
func checkInstanceNumbers(inst *build.Instance) error {
	return EachInstance(inst, func(i *build.Instance) (bool, error) {
		for k, f := range i.Files {
			src, ok := []byte(nil), false
			if k < len(i.BuildFiles) {
				src, ok = i.BuildFiles[k].Source.([]byte)
			}
			if !ok || numbers.HasLongExponent(src) {
				if err := numbers.Check(f); err != nil {
					return false, err
				}
			}
		}
		return true, nil
	})
}

// EachInstance calls visit on inst and on every package it imports, once
// each, depth first; visit says whether to go on into that package's
// imports. The first error stops the walk.
func EachInstance(inst *build.Instance, visit func(*build.Instance) (descend bool, err error)) error {
	done := map[*build.Instance]bool{}
	var walk func(*build.Instance) error
	walk = func(i *build.Instance) error {
		if i == nil || done[i] {
			return nil
		}
		done[i] = true
		descend, err := visit(i)
		if err != nil || !descend {
			return err
		}
		for _, imp := range i.Imports {
			if err := walk(imp); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(inst)
}
