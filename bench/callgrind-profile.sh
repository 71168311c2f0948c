#!/usr/bin/env bash
# Instructions per profile request, counted by valgrind's callgrind in the
# server process alone, and where they go. Instruction counts do not depend on
# what else the machine runs, so two builds can be compared on a busy machine
# where wall-clock rows would drown in noise.
#
#   bench/callgrind-profile.sh [--bin target/release/c360] [--database-url URL] [--requests 100] [--list]
#
# `--list` counts the benchmark's list (`customers(first: 50)` with its
# nesting, from src/bin/c360-bench/scenario.rs) in place of the profile.
#
# The store must be seeded (`c360 seed --customers 2000 --database-url URL`).
# On PostgreSQL the statements run in another process, so the count is the
# gateway's own work; on SQLite it includes SQLite's. Add `?sslmode=disable`
# to a loopback PostgreSQL URL, as the benchmark does, or TLS is counted too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/c360"
db="${DATABASE_URL:-sqlite://$root/c360.db?mode=rwc}"
requests=100
list=false
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --database-url) db="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --list) list=true; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }

work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
export C360_JWT_SECRET="callgrind-profile-secret-callgrind-profile" C360_SCHEDULER_INTERVAL=0s
token="$("$bin" token --role STAFF --database-url "$db" 2>/dev/null | tail -n 1)"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/out" \
  "$bin" serve --database-url "$db" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
  sleep 0.2
done

# The README's profile query, and the first 100 customers to ask it about.
query="$(python3 -c 'import re,json,sys; s=open(sys.argv[1]).read(); print(json.dumps(re.search(r"```graphql\n(query Profile\(.*?)```", s, re.S).group(1)))' "$root/README.md")"
post() {
  curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' \
    --data "$1" "http://127.0.0.1:$port/graphql"
}
mapfile -t ids < <(post '{"query":"{ customers(first: 100) { edges { node { id } } } }"}' |
  python3 -c 'import json,sys; [print(e["node"]["id"]) for e in json.load(sys.stdin)["data"]["customers"]["edges"]]')
[ "${#ids[@]}" -gt 0 ] || { echo "no customers: seed the store first" >&2; exit 1; }
list_query="$(python3 -c 'import re,json,sys; s=open(sys.argv[1]).read(); print(json.dumps(re.search(r"pub const LIST: &str = r#\"(.*?)\"#;", s, re.S).group(1)))' "$root/src/bin/c360-bench/scenario.rs")"
profile() {
  for i in $(seq 1 "$1"); do
    if $list; then
      # Pages of customers added before a day in the first half of the year.
      post "{\"query\":$list_query,\"operationName\":\"List\",\"variables\":{\"before\":\"2026-0$((1 + i % 6))-1$((i % 10))T00:00:00Z\"}}" >/dev/null
    else
      post "{\"query\":$query,\"operationName\":\"Profile\",\"variables\":{\"id\":\"${ids[$(((i * 37) % ${#ids[@]}))]}\"}}" >/dev/null
    fi
  done
}
profile 20 # warm the pools, the document cache and the allocator
callgrind_control -i on "$pid" >/dev/null
profile "$requests"
callgrind_control -i off "$pid" >/dev/null
callgrind_control -d "$pid" >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true

dump="$(ls "$work"/out.* | head -n 1)"
total="$(callgrind_annotate "$dump" | sed 's/,//g' | awk '/PROGRAM TOTALS/ && !n++ {print $1}')"
what=profile; $list && what=list
echo "instructions per $what request: $((total / requests)) ($requests requests)"
echo "inclusive share of the measured requests:"
callgrind_annotate --inclusive=yes --threshold=100 "$dump" | sed 's/,//g' | awk -v total="$total" '
  # The first line naming a function is its inclusive cost; row decoding is
  # summed over the entities.
  function show(label, pattern) { if (!(label in cost) && index($0, pattern)) { cost[label] = $1; order[++n] = label } }
  { show("one request, from the handler on", "c360::http::graphql::run_one::{{closure}} ")
    show("validation (async-graphql check_rules)", "async_graphql::validation::check_rules ")
    show("building SQL (sea-query)", "QueryBuilder::prepare_select_statement ")
    show("running statements (sea-orm, sqlx)", "ConnectionTrait>::query_all_raw::{{closure}} ")
    show("memcpy (moves of large futures, buffers)", "__memcpy_avx_unaligned_erms")
    # jemalloc (the default build), or glibc (`--no-default-features`).
    show("malloc", ":_rjem_malloc ")
    show("realloc", ":_rjem_realloc ")
    show("free", ":_rjem_sdallocx ")
    show("malloc", "malloc.c:malloc ")
    show("free", "malloc.c:_int_free ")
    show("token verification (HS256)", "jsonwebtoken::decoding::decode ")
    show("response serialisation", "serde_json::ser::to_string")
    if (index($0, "FromQueryResult>::from_query_result_nullable")) decoding += $1 }
  END {
    for (i = 1; i <= n; i++) printf "  %-44s %5.1f%%\n", order[i], 100 * cost[order[i]] / total
    printf "  %-44s %5.1f%%\n", "decoding rows into models", 100 * decoding / total }'
