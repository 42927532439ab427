#!/usr/bin/env bash
# Regenerates the Kubernetes API schemas under cuepy/catalog/k8s/ with `cue get go`
# (see README.md here). Needs Go and network access to the Go module proxy.
#
#   bash cuepy/catalog/k8s/generate.sh            # k8s.io/api v0.31.4, cue v0.17.1
#   K8S_API_VERSION=v0.31.5 bash cuepy/catalog/k8s/generate.sh
set -euo pipefail

K8S_API_VERSION="${K8S_API_VERSION:-v0.31.4}"
CUE_VERSION="${CUE_VERSION:-v0.17.1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

CUE="${CUE:-}"
if [ -z "$CUE" ]; then
	GOBIN="$WORK/bin" go install "cuelang.org/go/cmd/cue@$CUE_VERSION"
	CUE="$WORK/bin/cue"
fi

cd "$WORK"
cat > go.mod <<GOMOD
module cuepy.dev/k8sgen

go 1.22
GOMOD
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/api/autoscaling/v2"
	_ "k8s.io/api/core/v1"
)
GO
go get "k8s.io/api@$K8S_API_VERSION"
go mod tidy
"$CUE" mod init cuepy.dev/k8sgen@v0
"$CUE" get go k8s.io/api/apps/v1 k8s.io/api/autoscaling/v2 k8s.io/api/core/v1

# The generated packages become packages of the catalog module: k8s.io/X -> cuepy.dev/opm/k8s/X@v0
# (same directory layout; only the import paths are rewritten).
rm -rf "$HERE/api" "$HERE/apimachinery"
(cd cue.mod/gen/k8s.io && find . -name '*.cue' -print) | while read -r f; do
	mkdir -p "$HERE/$(dirname "$f")"
	sed -E 's#^(import |[[:space:]]+)([A-Za-z_0-9]+ )?"k8s\.io/([^"]+)"$#\1\2"cuepy.dev/opm/k8s/\3@v0"#' "cue.mod/gen/k8s.io/$f" > "$HERE/$f"
done
echo "k8s.io/api $K8S_API_VERSION, cue $CUE_VERSION" > "$HERE/VERSION"
