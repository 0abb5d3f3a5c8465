#!/bin/sh
# Server instructions per HTTP request, for every scenario of the `http`
# bench: each scenario's server is run alone under callgrind, once for N
# requests and once for 2N, and the server thread's instruction counts are
# subtracted, which leaves what N requests cost it in user space (kernel
# TCP work is not counted). Unlike time, the count does not move with the
# machine's speed or load, but it does move by a few percent from run to
# run (how the client's requests fall into the server's wake-ups varies):
# to judge a change of less than that, compare one function's inclusive
# count with `callgrind_annotate --inclusive=yes` on both builds instead.
#
# Usage: session-bench/instructions.sh [N [INDEX...]]
#   N defaults to 6400; INDEX... (scenario numbers, as `--names` lists
#   them from 0) measures only those, besides the bare app (0), which is
#   always measured as the reference.
# Needs valgrind. Note: under valgrind, SHA-256 runs without the CPU's SHA
# extensions, so routes that verify cookies count more than they cost on
# real hardware; the route that ignores the session hashes nothing.
set -eu
n=${1:-6400}
[ $# -gt 0 ] && shift
only=" $* "
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cd "$(dirname "$0")/.."
bin=$(cargo bench -p session-bench --bench http --no-run 2>&1 |
    sed -n 's/.*Executable benches\/http.rs (\(.*\))/\1/p')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The instruction count of the thread that ran hyper's server code.
server_total() {
    for f in "$1".*-*; do
        if grep -q "hyper::proto::h1::role" "$f"; then
            sed -n 's/^totals: //p' "$f"
        fi
    done
}

count() { # scenario requests -> server instructions
    if ! HTTP_ONLY=$1 HTTP_REQUESTS=$2 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$out/$1-$2.%p" "$bin" >"$out/log" 2>&1; then
        echo "scenario $1 failed under valgrind:" >&2
        tail -20 "$out/log" >&2
        exit 1
    fi
    server_total "$out/$1-$2"
}

names=$("$bin" --names)
echo "| scenario | server instructions/request | added vs bare |"
echo "|---|---|---|"
i=0
bare=
echo "$names" | while IFS= read -r name; do
    if [ $i -gt 0 ] && [ "$only" != "  " ] && [ "${only#* $i }" = "$only" ]; then
        i=$((i + 1))
        continue
    fi
    twice=$(count $i $((2 * n)))
    once=$(count $i $n)
    per=$(( (twice - once) / n ))
    [ -z "$bare" ] && bare=$per
    echo "| $name | $per | $(awk "BEGIN { printf \"%+.1f%%\", ($per / $bare - 1) * 100 }") |"
    i=$((i + 1))
done
