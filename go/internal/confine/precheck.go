package confine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"cuepy.dev/libcue/internal/cueerr"
)

// ModuleRoot is the directory cue/load takes as the main module's root:
// the nearest one at or above dir holding cue.mod (on disk or overlaid),
// or dir itself.
func ModuleRoot(dir string, overlay map[string]string) string {
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

// PreCheck is Check's lexical part, done before cue/load reads anything
// of a load from dir with args and overlay: the overlays and the named
// files lie inside the module root.
func PreCheck(dir string, args []string, overlay map[string]string, root string) error {
	if !utf8.ValidString(dir) {
		return cueerr.Usagef("load directory %q is not valid UTF-8: cue/load cannot read it exactly", dir)
	}
	if err := isDirectory(dir, overlay); err != nil {
		return err
	}
	for path := range overlay {
		if !within(root, filepath.Clean(path)) {
			return cueerr.WithCategory(cueerr.Load, fmt.Errorf("overlay %s: path is outside the module root %s", path, root))
		}
	}
	for _, arg := range args {
		if !utf8.ValidString(arg) {
			return cueerr.Usagef("file %q is not valid UTF-8: cue/load cannot read it exactly", arg)
		}
		if arg == "." || arg == "-" || strings.HasPrefix(arg, "./...") || strings.Contains(arg, "...") {
			continue
		}
		if !isFileArg(arg) {
			continue // a package path
		}
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if !within(root, filepath.Clean(path)) {
			return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: path is outside the module root %s", filepath.Clean(path), root))
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

// isDirectory refuses a load directory that is missing or a file, unless
// the overlay puts files in it: cue/load would say ". is a file and not a
// package directory" for either, naming neither the path nor what is wrong.
func isDirectory(dir string, overlay map[string]string) error {
	info, err := os.Stat(dir)
	if err == nil && info.IsDir() {
		return nil
	}
	for path := range overlay {
		if within(dir, filepath.Clean(path)) {
			return nil
		}
	}
	if err == nil {
		return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: not a directory (a file)", dir))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: no such directory", dir))
	}
	return cueerr.WithCategory(cueerr.Load, fmt.Errorf("%s: %w", dir, err))
}
