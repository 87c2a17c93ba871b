#!/usr/bin/env bash
# bench.sh runs paycrawl's benchmarks (make bench). BENCHMARKS.md records a
# run with the machine, the commands and the date.
#   BENCH_N=20000 BENCH_C=32 BENCH_RUNS=3 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh redis stripe-mock
export PATH="$(go env GOPATH)/bin:$PATH"
n="${BENCH_N:-20000}"
c="${BENCH_C:-32}"

echo "== $(date -u +%F) on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
echo
echo "== signature verification (pkg/deferred)"
go test -run '^$' -bench 'BenchmarkVerify|BenchmarkEd25519Verify|BenchmarkSign' -benchmem -benchtime 2s ./pkg/deferred/
echo
echo "== ledger appends, 64 writers (pkg/ledger)"
go test -run '^$' -bench BenchmarkAppend -benchtime 200000x ./pkg/ledger/
echo
echo "== raw XADD on the same kind of server, for comparison (redis-benchmark -P 16)"
dir=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync everysec --save "" --daemonize yes --logfile "$dir/log" >/dev/null
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
sleep 0.5
xadd() { redis-benchmark -p "$port" -q -n 200000 -P 16 XADD s '*' f v | tr '\r' '\n' | grep 'requests per second' | tail -1; }
echo "everysec: $(xadd)"
redis-cli -p "$port" config set appendfsync always >/dev/null
echo "always:   $(xadd)"
echo
echo "== closing a day of 1,000,000 commitments over 1,000 crawlers (pkg/settle)"
go test -run '^$' -bench BenchmarkCloseDay -benchtime 1x -timeout 30m ./pkg/settle/
echo
echo "== closing and archiving a day of 1,000,000 Ed25519-signed commitments over 1,000 crawlers (pkg/settle, pkg/archive)"
go test -run '^$' -bench BenchmarkCloseAndArchiveDay -benchtime 1x -timeout 60m ./pkg/settle/
echo
echo "== one request through the gateway, in process (internal/gateway)"
go test -run '^$' -bench BenchmarkRequestPath -benchmem -benchtime 5000x ./internal/gateway/
echo
echo "== the gateway against a bare httputil.ReverseProxy, real processes (cmd/stack bench-gateway)"
go run ./cmd/stack bench-gateway -n "$n" -c "$c" -fsync always -runs "${BENCH_RUNS:-3}"
