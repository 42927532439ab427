package runenv

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// DefaultGCPercent is libcuepy's GC target when the environment sets no
// GOGC. CUE's evaluation allocates many short-lived objects (several times
// the live heap per load), so Go's default of 100 collects several times per
// load; 400 made loads of the examples 20-25% faster for some 20 MiB more
// peak memory (docs/benchmarks.md). GOGC and GOMEMLIMIT still rule when set.
const DefaultGCPercent = 400

func init() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// The GOGC and GOMEMLIMIT values last applied (initially the start-up
// environment's, which the runtime applied itself).
var (
	runtimeEnvMu           sync.Mutex
	lastGOGC, lastMemLimit = envState("GOGC"), envState("GOMEMLIMIT")
)

type envValue struct {
	value string
	set   bool
}

func envState(key string) envValue {
	v, ok := os.LookupEnv(key)
	return envValue{v, ok && v != ""}
}

// ApplyRuntime applies the caller's GOGC and GOMEMLIMIT (from env; nil:
// nothing to apply) when they changed since last applied. Invalid values
// are ignored, as the Go runtime ignores them at start-up.
func ApplyRuntime(env map[string]string) {
	if env == nil {
		return
	}
	runtimeEnvMu.Lock()
	defer runtimeEnvMu.Unlock()
	gogc, ok := env["GOGC"]
	if now := (envValue{gogc, ok && gogc != ""}); now != lastGOGC {
		lastGOGC = now
		switch {
		case !now.set:
			debug.SetGCPercent(DefaultGCPercent)
		case strings.EqualFold(gogc, "off"):
			debug.SetGCPercent(-1)
		default:
			if p, err := strconv.Atoi(gogc); err == nil {
				debug.SetGCPercent(p)
			}
		}
	}
	limit, ok := env["GOMEMLIMIT"]
	if now := (envValue{limit, ok && limit != ""}); now != lastMemLimit {
		lastMemLimit = now
		if !now.set {
			debug.SetMemoryLimit(math.MaxInt64)
		} else if n, ok := parseByteCount(limit); ok {
			debug.SetMemoryLimit(n)
		}
	}
}

// parseByteCount reads GOMEMLIMIT's syntax: "off", or a number of bytes
// with an optional unit (B, KiB, MiB, GiB, TiB).
func parseByteCount(s string) (int64, bool) {
	if s == "off" {
		return math.MaxInt64, true
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > math.MaxInt64/mult) {
		return 0, false
	}
	return n * mult, true
}
