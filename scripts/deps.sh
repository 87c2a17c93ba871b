#!/usr/bin/env bash
# deps.sh installs what paycrawl's tests and demo need and the machine lacks.
# Usage: scripts/deps.sh [redis] [stripe-mock] [chromium] [staticcheck] [node-modules] [s3-server]
# With no argument it installs redis and stripe-mock. It is idempotent and quiet
# when everything is already there.
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(redis stripe-mock)

gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"

apt_updated=0
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to install $*" >&2; exit 1; }
    sudo="sudo"
  fi
  if [ $apt_updated -eq 0 ]; then
    echo "deps: apt-get update" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    apt_updated=1
  fi
  echo "deps: apt-get install $*" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# npm_ci installs the npm packages of a directory of the repository
# whenever they are missing or older than its package-lock.json (npm keeps
# a copy of the lock it installed in node_modules/.package-lock.json).
npm_ci() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/$1"
  if ! have node || ! have npm; then
    apt_install nodejs npm
  fi
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "deps: npm ci in $1/" >&2
    (cd "$dir" && npm ci --no-audit --no-fund >/dev/null)
  fi
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ]; }

for w in "${want[@]}"; do
  case "$w" in
    redis)
      if ! have redis-server || ! have redis-cli; then
        apt_install redis-server redis-tools
      fi
      # Debian's package starts a system redis on 6379; paycrawl never uses it.
      ;;
    stripe-mock)
      if ! have stripe-mock; then
        echo "deps: go install github.com/stripe/stripe-mock@latest" >&2
        go install github.com/stripe/stripe-mock@latest
      fi
      ;;
    chromium)
      if ! have chromium; then
        apt_install chromium
      fi
      ;;
    staticcheck)
      if ! have staticcheck; then
        echo "deps: go install honnef.co/go/tools/cmd/staticcheck@latest" >&2
        go install honnef.co/go/tools/cmd/staticcheck@latest
      fi
      ;;
    node-modules)
      # interop/ runs other people's code (Cloudflare's web-bot-auth and
      # @x402/core npm packages) from Go tests; package-lock.json pins it.
      npm_ci interop
      ;;
    s3-server)
      # The S3-compatible server the archive's S3 store is tested against
      # (internal/tests3): s3rver, pinned by its package-lock.json.
      npm_ci internal/tests3
      ;;
    *) echo "deps: unknown dependency $w" >&2; exit 2 ;;
  esac
done
