package loader

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueembed "cuelang.org/go/cue/inject/embed"

	"cuepy.dev/libcue/internal/confine"
)

// Inputs is what cue_load_inputs reports: the files on disk a load of
// the same configuration reads, and the directories whose listing decides
// which files it reads.
type Inputs struct {
	// Root is the main module's root directory.
	Root string `json:"root"`
	// Files are absolute paths: every CUE file of the instance and of each
	// package it imports from the main module or from a module served from
	// a directory (cfg.Modules), the other .cue files of their directories
	// (cue/load reads them for their package clause), cue.mod/module.cue of
	// those modules, the data files named in the arguments and the files
	// embedded with @embed. Overlay files are left out.
	Files []string `json:"files"`
	// Dirs are absolute paths of the directories whose listing decides what
	// is read: each package directory and its parents up to its module
	// root, each module's cue.mod, the directories between an embedding file
	// and what it embeds, and the directories an @embed glob lists.
	Dirs []string `json:"dirs"`
}

// ReadInputs loads cfg (as Instance) and lists its inputs.
func ReadInputs(cfg *Config) (*Inputs, error) {
	inst, err := Instance(cfg)
	if err != nil {
		return nil, err
	}
	return InputsOf(inst, cfg)
}

// InputsOf lists the inputs of inst, which Instance loaded for cfg.
func InputsOf(inst *build.Instance, cfg *Config) (*Inputs, error) {
	roots := []string{filepath.Clean(inst.Root)}
	for _, m := range cfg.Modules {
		roots = append(roots, filepath.Clean(m.Dir))
	}
	// rootOf is the module root (main or served from a directory) holding
	// path, or "" (a registry module: pinned by its version, not read here).
	rootOf := func(path string) string {
		best := ""
		for _, r := range roots {
			if (path == r || strings.HasPrefix(path, r+string(filepath.Separator))) && len(r) > len(best) {
				best = r
			}
		}
		return best
	}
	files, dirs := map[string]bool{}, map[string]bool{}
	addFile := func(name string) {
		if name == "" || !filepath.IsAbs(name) {
			return
		}
		name = filepath.Clean(name)
		if _, overlaid := cfg.Overlay[name]; !overlaid && rootOf(name) != "" {
			files[name] = true
		}
	}
	// addDirs records dir and its parents up to root.
	addDirs := func(dir, root string) {
		for d := filepath.Clean(dir); rootOf(d) == root; d = filepath.Dir(d) {
			dirs[d] = true
			if d == root || filepath.Dir(d) == d {
				break
			}
		}
	}
	named := namedFiles(cfg)
	err := confine.EachInstance(inst, func(i *build.Instance) (bool, error) {
		root := rootOf(filepath.Clean(i.Dir))
		if root == "" {
			return true, nil
		}
		for _, list := range [][]*build.File{i.BuildFiles, i.IgnoredFiles, i.InvalidFiles} {
			for _, f := range list {
				addFile(f.Filename)
			}
		}
		if i == inst {
			for _, f := range i.OrphanedFiles {
				if named[f.Filename] {
					addFile(f.Filename)
				}
			}
		}
		addDirs(i.Dir, root)
		// Only what exists: a root without cue.mod (a directory loaded as it is) has no module
		// file to read, and the listings recorded (the root's, cue.mod's) see one appear.
		modDir := filepath.Join(root, "cue.mod")
		if info, err := os.Stat(modDir); err == nil && info.IsDir() {
			dirs[modDir] = true
			if info, err := os.Stat(filepath.Join(modDir, "module.cue")); err == nil && info.Mode().IsRegular() {
				addFile(filepath.Join(modDir, "module.cue"))
			}
		}
		for _, f := range i.Files {
			embedInputs(f, root, addFile, func(dir string) { addDirs(dir, root) })
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// cue/load reads every .cue file of the package directories (for its
	// package clause): all of them are inputs.
	for d := range dirs {
		if filepath.Base(d) == "cue.mod" {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".cue") && (e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0) {
				addFile(filepath.Join(d, e.Name()))
			}
		}
	}
	return &Inputs{Root: filepath.Clean(inst.Root), Files: sortedKeys(files), Dirs: sortedKeys(dirs)}, nil
}

// embedInputs records the files a file's @embed attributes read (through
// cue/inject/embed, as the evaluator finds them) and the directories they
// depend on: the globs' listings and the directories between the file and
// each embedded one (a cue.mod there would make it another module's).
func embedInputs(f *ast.File, root string, addFile, addDir func(string)) {
	rel, err := filepath.Rel(root, f.Filename)
	if err != nil || strings.HasPrefix(rel, "..") {
		return
	}
	embeds, _ := cueembed.EmbeddedPaths(filepath.ToSlash(rel), f) // invalid ones fail the load itself
	if len(embeds) == 0 {
		return
	}
	fsys := &listingFS{FS: os.DirFS(root)}
	for _, e := range embeds {
		found, _ := e.FindAll(fsys)
		for _, name := range found {
			abs := filepath.Join(root, filepath.FromSlash(name))
			addFile(abs)
			addDir(filepath.Dir(abs))
		}
	}
	for _, name := range fsys.listed {
		addDir(filepath.Join(root, filepath.FromSlash(name)))
	}
}

// listingFS records the directories read through it (fs.Glob lists them).
type listingFS struct {
	fs.FS
	listed []string
}

func (l *listingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	l.listed = append(l.listed, name)
	return fs.ReadDir(l.FS, name)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
