#!/usr/bin/env bash
# Serves a c360 bench database with PostGraphile v5, for c360-bench's
# `--postgraphile-url`. PostGraphile and a Node 22 runtime come from npm and
# are installed under target/postgraphile/, outside the project's own
# dependencies; the first run installs them, later runs reuse them.
#
#   bench/postgraphile/run.sh                      # c360_bench_100000 on :5678
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/c360_bench_2000 PORT=5679 bench/postgraphile/run.sh
#
# The server runs in the foreground until interrupted.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${C360_POSTGRAPHILE_DIR:-$root/target/postgraphile}"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/c360_bench_100000}"
export PORT="${PORT:-5678}"
# Production mode: no development-only checks in Grafast, no stack traces.
export NODE_ENV=production GRAPHILE_ENV=production

if [ ! -x "$dir/node_modules/.bin/node" ] || [ ! -d "$dir/node_modules/postgraphile" ]; then
  mkdir -p "$dir"
  # `node` is the npm package shipping Node's own binary; PostGraphile 5
  # needs Node 22 or later, whatever node runs npm here.
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error 'node@^22' 'postgraphile@^5'
fi

# The config imports postgraphile, so it must sit beside that node_modules.
cp "$here/graphile.config.mjs" "$dir/graphile.config.mjs"
cd "$dir"
echo "PostGraphile $(node_modules/.bin/node -p 'require("./node_modules/postgraphile/package.json").version') on Node $(node_modules/.bin/node --version), $DATABASE_URL, http://127.0.0.1:$PORT/graphql" >&2
exec node_modules/.bin/node node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs
