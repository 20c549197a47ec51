#!/usr/bin/env bash
# Creates the demo routes repository (default .rauta/demo-repo) from examples/repo/,
# as a few commits by different authors so `rauta log` and `rauta history` have
# history: the listeners and half the services, then the rest, then a canary
# weight change. Reuses the repository when it already exists.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.rauta/demo-repo}"
say() { printf 'demo-repo: %s\n' "$*" >&2; }

if [ -d "$dest/.git" ]; then
  say "reusing $dest ($(git -C "$dest" rev-list --count HEAD) commits, head $(git -C "$dest" rev-parse --short HEAD))"
  exit 0
fi

mkdir -p "$dest"
git -C "$dest" init -q -b main
git -C "$dest" config user.name "rauta demo"
git -C "$dest" config user.email "demo@rauta.invalid"
git -C "$dest" config commit.gpgsign false

commit() { # AUTHOR EMAIL MESSAGE
  git -C "$dest" add -A
  GIT_AUTHOR_NAME="$1" GIT_AUTHOR_EMAIL="$2" GIT_COMMITTER_NAME="$1" GIT_COMMITTER_EMAIL="$2" \
    git -C "$dest" commit -q -m "$3"
}

cp examples/repo/README.md examples/repo/listeners.yaml "$dest/"
mkdir -p "$dest/services"
cp examples/repo/services/identity.yaml examples/repo/services/catalog.yaml examples/repo/services/platform.yaml "$dest/services/"
commit "Alice Ops" alice@example.com "Listeners on 10.0.0.10:80/8080; identity, catalog and platform routes"

cp examples/repo/services/shopping.yaml examples/repo/services/fulfilment.yaml "$dest/services/"
commit "Bob Dev" bob@example.com "Shopping and fulfilment routes"

sed -i 's/weight: 1      # canary of the next release: about 1 connection in 9/weight: 2      # canary of the next release: about 2 connections in 10/' "$dest/services/catalog.yaml"
commit "Carol SRE" carol@example.com "Widen the catalog canary (10.1.3.4) to weight 2"

say "created $dest: $(git -C "$dest" rev-list --count HEAD) commits, head $(git -C "$dest" rev-parse --short HEAD)"
