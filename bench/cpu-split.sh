#!/usr/bin/env bash
# Where a request's CPU goes, by process, for the gateway and for its floor
# (the same statements replayed without GraphQL) in one run of c360-bench:
# the gateway's own process (user and kernel), the benchmark's client (the
# HTTP load generator, or the floor's replay of the statements), PostgreSQL
# (user and kernel), the rest of the machine and idle time, each as
# milliseconds of CPU a request. The floor share (gateway ÷ floor req/s) is
# CPU-bound on this kind of machine, so these figures say which process a
# faster gateway has to take time from.
#
#   bench/cpu-split.sh [--scenario profile] [--concurrency 16] [--duration 10] [--customers 100000]
#                      [--server-bin target/release/c360]
#
# One scenario and one concurrency a run; a scenario without a floor
# (`typename`) gives the gateway's row alone.
#
# Runs `perf record -a` (Debian's linux-perf; as root, or with
# kernel.perf_event_paranoid at most 0) over two rounds of the gateway and
# one of the floor, and splits the samples by time: the gateway's second
# round and the floor's round, each without its warm-up and half a second
# at either end. The PostgreSQL store must be seeded, as for c360-bench.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scenario=profile
concurrency=16
duration=10
customers=100000
server_bin="$root/target/release/c360"
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --customers) customers="$2"; shift 2 ;;
    --server-bin) server_bin="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "needs perf (apt-get install -y linux-perf)" >&2; exit 1; }
bench="$root/target/release/c360-bench"
[ -x "$bench" ] || { echo "build it first: cargo build --release --bins" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
warmup=2
# Each line of the benchmark's output with the monotonic time it appeared,
# the clock perf stamps its samples with (`-k CLOCK_MONOTONIC`).
stamp='import sys, time
for line in sys.stdin:
    sys.stdout.write("%.3f %s" % (time.monotonic(), line)); sys.stdout.flush()'
perf record -a -q -F 999 -k CLOCK_MONOTONIC -o "$work/perf.data" -- bash -c "
  '$bench' --store postgres --customers $customers --scenario $scenario \
    --concurrency $concurrency --rounds 2 --duration ${duration}s --warmup ${warmup}s \
    --server-bin '$server_bin' 2>&1 | python3 -c '$stamp' > '$work/bench.log'" \
  2>"$work/perf.err" || { cat "$work/perf.err" "$work/bench.log" >&2; exit 1; }

perf script -i "$work/perf.data" -F comm,pid,time,ip,dso 2>/dev/null >"$work/samples"
python3 - "$work/bench.log" "$work/samples" "$warmup" "$(nproc)" "$(readlink -f "$server_bin")" <<'EOF'
import re, sys
log, samples, warmup, cpus = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
server_path = sys.argv[5]
lines = [l.split(" ", 1) for l in open(log)]
at = lambda pred: next(float(t) for t, l in lines if pred(l))
round1 = at(lambda l: l.startswith("round 1 of 2"))
round2 = at(lambda l: l.startswith("round 2 of 2"))
row = next((float(t), l) for t, l in lines if l.startswith("| PostgreSQL"))
def rps(line, column):
    cell = line.split("|")[column].strip().replace(",", "")
    return float(cell) if cell.replace(".", "").isdigit() else None
round2_rps = rps(next(l for _, l in lines if l.startswith("round 2 of 2")), 5)
floor_rps = rps(row[1], 11)
windows = {"gateway": (round1 + warmup + 0.5, round2 - 0.5, round2_rps)}
if floor_rps:
    # The floor connects its workers' pools before its warm-up.
    windows["floor"] = (round2 + warmup + 1.0, row[0] - 0.5, floor_rps)
# The server's and the benchmark's pids: the processes with samples in
# their own binaries.
counts = {name: {} for name in windows}
server, client = set(), set()
for s in open(samples):
    m = re.match(r"\s*(\S.*?)\s+(\d+)\s+([\d.]+):\s+[0-9a-f]+\s+\((.*)\)", s)
    if not m:
        continue
    comm, pid, t, dso = m.group(1), m.group(2), float(m.group(3)), m.group(4)
    if dso == server_path or dso.endswith("/c360"):
        server.add(pid)
    elif dso.endswith("/c360-bench"):
        client.add(pid)
    for name, (a, b, _) in windows.items():
        if a <= t <= b:
            counts[name][(comm, pid, dso)] = counts[name].get((comm, pid, dso), 0) + 1
print(f"{'':10} {'req/s':>8} {'gateway user':>13} {'gateway kernel':>15} {'client':>10} {'pg user':>8} {'pg kernel':>10} {'other':>7} {'idle':>6}   (ms of CPU a request)")
for name, (a, b, rps) in windows.items():
    span = b - a
    # Samples at 999 Hz on every CPU: the machine's capacity in the window.
    capacity = 999 * cpus * span
    groups = dict.fromkeys(["user", "kernel", "client", "pg user", "pg kernel", "other"], 0)
    for (comm, pid, dso), n in counts[name].items():
        if pid in server:
            groups["kernel" if "kernel" in dso else "user"] += n
        elif pid in client:
            groups["client"] += n
        elif comm == "postgres":
            groups["pg kernel" if "kernel" in dso else "pg user"] += n
        elif comm == "swapper":
            continue
        else:
            groups["other"] += n
    ms = lambda n: n / 999 * 1000 / (rps * span)
    idle = max(capacity - sum(groups.values()), 0)
    print(f"{name:10} {rps:>8,.0f} {ms(groups['user']):>13.3f} {ms(groups['kernel']):>15.3f} "
          f"{ms(groups['client']):>10.3f} {ms(groups['pg user']):>8.3f} {ms(groups['pg kernel']):>10.3f} {ms(groups['other']):>7.3f} {ms(idle):>6.3f}")
EOF
