// Package experiment refuses CUE_EXPERIMENT values the cue command refuses:
// CUE's evaluator reads the variable once and ignores a bad value silently,
// where `cue` stops with "error in CUE_EXPERIMENT: ...". The experiments
// and their lifecycles (experiments_gen.go) are generated from the source
// of the pinned cuelang.org/go (./gen, ./source); the rules are CUE's:
//
//   - the value is a comma-separated list of name or name=bool;
//   - an unknown name is refused;
//   - an experiment still in preview after this CUE's language version
//     cannot be enabled; a stable one cannot be disabled; a withdrawn one
//     cannot be enabled.
package experiment

//go:generate go run ./gen

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"

	"cuepy.dev/libcue/internal/cueerr"
)

type experimentTag struct {
	name      string
	lifecycle string
}

// Check is nil when value is a CUE_EXPERIMENT the cue command accepts, else
// a usage error with the cue command's words.
func Check(value string) error {
	if err := check(value, cue.LanguageVersion()); err != nil {
		return cueerr.WithCategory(cueerr.Usage, err)
	}
	return nil
}

// CheckProcess checks the process's CUE_EXPERIMENT, the one CUE's evaluator
// reads (once, as CUE reads it).
var CheckProcess = sync.OnceValue(func() error { return Check(os.Getenv("CUE_EXPERIMENT")) })

// CheckEnv checks the process's CUE_EXPERIMENT and the caller's current
// one when env (the caller's environment, nil for none) holds it.
func CheckEnv(env map[string]string) error {
	if err := CheckProcess(); err != nil {
		return err
	}
	if v, ok := env["CUE_EXPERIMENT"]; ok {
		return Check(v)
	}
	return nil
}

func check(value, version string) error {
	set := map[string]bool{}
	for _, item := range strings.Split(value, ",") {
		if item == "" {
			continue
		}
		name, v, _ := strings.Cut(item, "=")
		on := true
		if v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("cannot parse CUE_EXPERIMENT: invalid value %q for experiment %q", v, name)
			}
			on = b
		}
		set[name] = on
	}
	var errs []error
	for _, k := range known {
		on, named := set[k.name]
		delete(set, k.name)
		if !named {
			continue
		}
		for _, stage := range strings.Split(k.lifecycle, ",") {
			key, since, _ := strings.Cut(stage, ":")
			reached := compareVersions(version, since) >= 0
			switch {
			case key == "preview" && on && !reached:
				errs = append(errs, fmt.Errorf("cannot set experiment %q before version %s", k.name, since))
			case key == "stable" && !on:
				errs = append(errs, fmt.Errorf("cannot disable stable experiment %q", k.name))
			case key == "withdrawn" && on && reached:
				errs = append(errs, fmt.Errorf("cannot set rejected experiment %q", k.name))
			}
		}
	}
	unknown := make([]string, 0, len(set))
	for name := range set {
		unknown = append(unknown, name)
	}
	slices.Sort(unknown) // (cue lists them in map order)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("unknown experiment %q", name))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("error in CUE_EXPERIMENT: %w", err)
	}
	return nil
}

// compareVersions compares two versions vMAJOR.MINOR.PATCH (a pre-release
// suffix sorts before its release), as -1, 0 or 1.
func compareVersions(a, b string) int {
	pa, prea := versionParts(a)
	pb, preb := versionParts(b)
	if c := slices.Compare(pa, pb); c != 0 {
		return c
	}
	switch {
	case prea == preb:
		return 0
	case prea == "":
		return 1
	case preb == "":
		return -1
	}
	return strings.Compare(prea, preb)
}

func versionParts(v string) ([]int, string) {
	v = strings.TrimPrefix(v, "v")
	v, pre, _ := strings.Cut(v, "-")
	nums := make([]int, 3)
	for i, s := range strings.SplitN(v, ".", 3) {
		nums[i], _ = strconv.Atoi(s)
	}
	return nums, pre
}
