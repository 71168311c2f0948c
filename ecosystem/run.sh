#!/usr/bin/env bash
# The checks that need the ecosystem's own tools (Node.js packages pinned by
# package-lock.json, Debian's chromium): each script in checks/ runs against
# one `c360 serve --seed-demo --dev` on a fresh SQLite file, in name order.
#
#   ecosystem/run.sh [check-name…]     e.g. ecosystem/run.sh audit graphiql
#
# Outputs (screenshots, generated types, logs) land in ecosystem/out/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$here"

command -v node >/dev/null || { echo "ecosystem: Node.js 20 or newer is needed (apt-get install -y nodejs npm)" >&2; exit 1; }
command -v chromium >/dev/null || { echo "ecosystem: the browser check drives Debian's chromium: apt-get install -y chromium" >&2; exit 1; }
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The binary the tests built; built here when run on its own.
(cd "$root" && cargo build --quiet --bin c360)
bin="$root/target/debug/c360"

out="$here/out"
rm -rf "$out" && mkdir -p "$out"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --seed-demo --dev --listen 127.0.0.1:0 \
  --database-url "sqlite://$work/c360.db?mode=rwc" >"$out/serve.stdout" 2>"$out/serve.log" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q "Staff token:" "$out/serve.stdout" 2>/dev/null && grep -q "A customer with every kind" "$out/serve.stdout" && break
  kill -0 "$server_pid" 2>/dev/null || { echo "ecosystem: c360 serve exited:" >&2; cat "$out/serve.log" >&2; exit 1; }
  sleep 0.2
done
C360_URL="$(sed -n 's/^ *GraphiQL: *//p' "$out/serve.stdout")"
C360_TOKEN="$(sed -n 's/^ *Staff token: *//p' "$out/serve.stdout")"
C360_CUSTOMER_ID="$(sed -n 's/^ *A customer with every kind of record: *//p' "$out/serve.stdout")"
[ -n "$C360_URL" ] && [ -n "$C360_TOKEN" ] && [ -n "$C360_CUSTOMER_ID" ] || { echo "ecosystem: c360 serve printed no address or token" >&2; cat "$out/serve.stdout" >&2; exit 1; }
export C360_URL C360_TOKEN C360_CUSTOMER_ID C360_BIN="$bin" C360_OUT="$out" C360_ROOT="$root"

wanted=("$@")
failed=0
for check in checks/*.mjs; do
  name="$(basename "$check" .mjs)"
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " ${name#*-} " ]] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then
    continue
  fi
  echo "== $name"
  if node "$check"; then echo "ok $name"; else echo "FAILED $name"; failed=1; fi
done
kill -0 "$server_pid" 2>/dev/null || { echo "ecosystem: c360 serve died during the checks" >&2; tail -50 "$out/serve.log" >&2; exit 1; }
exit "$failed"
