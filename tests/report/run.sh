#!/usr/bin/env bash
# CI smoke test of tools/troupe-report: the fixture gives two workloads with
# troupe and a peer (ring has troupe alone and must be left out); both image
# formats must come out non-empty and of the right kind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
report="$here/../../tools/troupe-report"
out=$(mktemp -d)
"$report" -o "$out/chart.png" "$here/fixture.txt" 2>"$out/log"
grep -q "2 workloads" "$out/log" || { cat "$out/log" >&2; exit 1; }
[ -s "$out/chart.png" ] && head -c 8 "$out/chart.png" | od -An -tx1 | grep -q "89 50 4e 47" ||
    { echo "troupe-report: no PNG" >&2; exit 1; }
"$report" -o "$out/chart.svg" "$here/fixture.txt" 2>/dev/null
grep -q "<svg" "$out/chart.svg" && grep -q "remote_pingpong" "$out/chart.svg" ||
    { echo "troupe-report: no SVG with the panels" >&2; exit 1; }
# Nothing to compare: a non-zero exit, no image.
if "$report" -o "$out/none.png" /dev/null 2>/dev/null; then
    echo "troupe-report: succeeded without data" >&2; exit 1
fi
echo "troupe-report smoke test passed ($(stat -c %s "$out/chart.png") byte PNG)"
rm -rf "$out"
