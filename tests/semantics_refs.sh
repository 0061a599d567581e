#!/bin/sh
# Every behaviour number cited in the tree ("S24", "S1-S6", "S11–S13") must
# be an item of engine/SEMANTICS.md, and that file must define S1..S<last>
# once each, in order. Run by ctest (semantics_refs) as
#   tests/semantics_refs.sh SOURCE_DIR
# and, to show the check can fail, as `tests/semantics_refs.sh --selftest`,
# which runs it on a made-up tree citing an undefined number.
# Exit 0: all resolve; 1: a citation or the file is wrong (listed on stderr).
set -u
export LC_ALL=C

check() {
    root=$1
    spec=$root/engine/SEMANTICS.md
    if [ ! -f "$spec" ]; then
        echo "semantics_refs: $spec is missing" >&2
        return 1
    fi
    # Defined items: lines starting "**S<n>**".
    defined=$(sed -n 's/^\*\*S\([0-9][0-9]*\)\*\*.*/\1/p' "$spec")
    if [ -z "$defined" ]; then
        echo "semantics_refs: $spec defines no **S<n>** item" >&2
        return 1
    fi
    bad=0
    # In order, once each, from 1.
    want=1
    for n in $defined; do
        if [ "$n" -ne "$want" ]; then
            echo "semantics_refs: $spec: item S$n where S$want was expected" >&2
            bad=1
            want=$n
        fi
        want=$((want + 1))
    done
    last=$((want - 1))
    # The files it points at ("`rpc/endpoint.c`", "`include/troupe/x.h`")
    # exist, under engine/ or the top.
    for path in $(grep -oE '`[a-z_]+(/[a-z_]+)*/[a-z_]+\.(c|h|md|sh)`' "$spec" | tr -d '`' | sort -u); do
        if [ ! -f "$root/engine/$path" ] && [ ! -f "$root/$path" ]; then
            echo "semantics_refs: $spec names $path, which does not exist" >&2
            bad=1
        fi
    done
    # Citations: S<n>, optionally a range to S<m> or <m> with - or an en dash.
    # Word-bounded, so TRI_S1 or S3S are not citations.
    files=$(cd "$root" && find engine include tests tools bench README.md -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.md' -o -name '*.sh' -o -name '*.txt' \
           -o -name 'README.md' -o -name 'troupe-setup' \) 2>/dev/null | sort)
    for f in $files; do
        perl -ne 'while (/(?<![A-Za-z0-9_])S(\d+)(?:\s?(?:-|\xe2\x80\x93)\s?S?(\d+))?(?![A-Za-z0-9_])/g)
                      { print "$. $1 ", (defined $2 ? $2 : $1), "\n" }' "$root/$f" |
            while read -r line a b; do
                [ -n "$a" ] || continue
                b=${b:-$a}
                if [ "$a" -lt 1 ] || [ "$b" -gt "$last" ] || [ "$a" -gt "$b" ]; then
                    [ "$a" = "$b" ] && r=S$a || r=S$a-S$b
                    echo "$f:$line: cites $r, not in engine/SEMANTICS.md (S1..S$last)" >&2
                    echo bad
                fi
            done
    done | grep bad >/dev/null && bad=1
    return $bad
}

if [ "${1:-}" = "--selftest" ]; then
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/engine" "$tmp/include" "$tmp/tests" "$tmp/tools" "$tmp/bench"
    printf '**S1** one\n\n**S2** two\n' >"$tmp/engine/SEMANTICS.md"
    printf '/* S1, S1-S2 and S1–2 resolve; TRI_S9 is no citation */\n' >"$tmp/engine/a.c"
    echo "# ok" >"$tmp/README.md"
    check "$tmp" 2>/dev/null || { echo "semantics_refs selftest: a good tree failed" >&2; exit 1; }
    printf '/* S3 does not exist */\n' >"$tmp/include/b.h"
    check "$tmp" 2>/dev/null && { echo "semantics_refs selftest: S3 was not caught" >&2; exit 1; }
    rm "$tmp/include/b.h"
    printf '/* S1-S4 overshoots */\n' >"$tmp/tests/c.c"
    check "$tmp" 2>/dev/null && { echo "semantics_refs selftest: S1-S4 was not caught" >&2; exit 1; }
    rm "$tmp/tests/c.c"
    printf '**S1** one\n\n**S2** two, in `core/gone.c`\n' >"$tmp/engine/SEMANTICS.md"
    check "$tmp" 2>/dev/null && { echo "semantics_refs selftest: a missing file was not caught" >&2; exit 1; }
    printf '**S1** one\n\n**S3** three\n' >"$tmp/engine/SEMANTICS.md"
    check "$tmp" 2>/dev/null && { echo "semantics_refs selftest: a gap (S2) was not caught" >&2; exit 1; }
    echo "semantics_refs selftest: ok"
    exit 0
fi

check "${1:-.}" || exit 1
echo "semantics_refs: every S-number cited resolves in engine/SEMANTICS.md"
