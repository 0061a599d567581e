#!/usr/bin/env bash
# Builds and runs the consumer projects against an installed troupe.
#   tests/consumer/run.sh PREFIX [BUILD_DIR]
set -euo pipefail
prefix=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
build=${2:-$(mktemp -d)}
for p in c cxx; do
    echo "--- consumer $p (find_package(troupe) from $prefix)"
    cmake -S "$here/$p" -B "$build/$p" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
    cmake --build "$build/$p"
done
"$build/c/consumer_shared"
"$build/c/consumer_static"
"$build/cxx/consumer_cxx"
# The shared one must load troupe from the prefix (CMake's build rpath).
# ldd's output is kept first: under pipefail, grep -q exiting at its first
# match can kill ldd with SIGPIPE and fail a check that matched.
loaded=$(ldd "$build/c/consumer_shared")
grep -q "$prefix/lib/libtroupe.so" <<<"$loaded" ||
    { echo "consumer_shared does not load $prefix's libtroupe.so" >&2; exit 1; }
