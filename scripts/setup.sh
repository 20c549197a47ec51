#!/usr/bin/env bash
# Installs and builds everything rauta needs on a Debian machine, as root.
# Idempotent and quick when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "run as root: rauta loads XDP programs and installs packages"; exit 2
fi

# 1. Debian packages, only the missing ones.
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have clang        || need+=(clang)
have llvm-strip   || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
[ -e /usr/lib/x86_64-linux-gnu/libbpf.so.1 ] || need+=(libbpf1)
have bpftool      || need+=(bpftool)
have redis-server || need+=(redis-server)
have git          || need+=(git)
have ip           || need+=(iproute2)
have ethtool      || need+=(ethtool)
have curl         || need+=(curl)         # the demo's and the tests' client
have python3      || need+=(python3)      # the tests' raw-SYN sender
have jq           || need+=(jq)           # the tests' stand-in for gh api --jq (test/helpers/fake-gh.mjs)
have nstat        || need+=(iproute2)
have wrk          || need+=(wrk)          # the connection benchmark's load generator
have nginx        || need+=(nginx-light)  # the benchmark's anchor: a path-routing reverse proxy
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # nginx's package would start a server on port 80 of this host: keep services down while installing
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. npm packages, reinstalled only when the lockfile changed.
stamp=node_modules/.rauta-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# 3. bpffs, where pinned maps live.
if ! mountpoint -q /sys/fs/bpf; then
  say "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

# 4. The BPF objects (make rebuilds only what changed).
make -s -C bpf
