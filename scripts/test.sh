#!/usr/bin/env bash
# The whole test suite: setup, type-check, format and lint, then every test file under node's test runner.
# BPF tests fail (never skip) when the kernel side cannot run: RAUTA_REQUIRE_BPF=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAUTA_REQUIRE_BPF="${RAUTA_REQUIRE_BPF:-1}"
npx tsc --noEmit
npx biome check --error-on-warnings . # formatter and linter (biome.jsonc): `npx biome check --write .` fixes what it can
exec node --import tsx --test --test-reporter=spec "$@" test/*.test.ts
