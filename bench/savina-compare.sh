#!/usr/bin/env bash
# Runs CAF's Savina suite (woelke/savina, built by ../shared/peers/savina/build-caf.sh)
# and troupe's (troupe-bench savina.NAME) in one session, benchmark by benchmark, and
# prints a side-by-side table: the median wall time of each (ms, whole run: CAF creates
# an actor_system per iteration, troupe a service per run), the ratio troupe speed / CAF
# speed (CAF ms / troupe ms: above 1, troupe is faster) and the geometric mean of the ratios.
#
#   bench/savina-compare.sh [-n REPS] [-c CAF_BIN_DIR] [-t TROUPE_BENCH] [NAME ...]
#
#   -n REPS        runs of each side per benchmark, taking turns (default 3); the median
#                  and the min-max are shown
#   -c DIR         CAF's binaries (default $CAF_SAVINA_BIN; build-caf.sh prints it)
#   -t PATH        troupe-bench (default build/release/troupe-bench)
#   NAME ...       a subset (default: all 23, in Savina's order)
#   LOGMAP_VARIANT, BANKING_VARIANT (env): which of CAF's builds of logmap and banking
#                  (default request_await_infinite and request_then_infinite, the ones
#                  ../shared/peers/savina/README.md quotes)
#
# Raw outputs are kept in a temporary directory whose path is printed last. Exit status 1
# when a benchmark failed or printed no time on either side. Run it on a quiet machine
# (e.g. under `flock /tmp/troupe-heavy.lock`): both sides use every core.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
reps=3
caf=${CAF_SAVINA_BIN:-}
troupe=$here/build/release/troupe-bench
while getopts "n:c:t:h" o; do
    case $o in
    n) reps=$OPTARG ;;
    c) caf=$OPTARG ;;
    t) troupe=$OPTARG ;;
    *) sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$caf" ] && [ -x "$caf/caf_01_pingpong" ] || {
    echo "savina-compare: CAF's Savina binaries not found (give -c DIR or CAF_SAVINA_BIN;" \
         "build them with ../shared/peers/savina/build-caf.sh)" >&2; exit 2; }
[ -x "$troupe" ] || { echo "savina-compare: no troupe-bench at $troupe" >&2; exit 2; }

declare -A cafbin=(
    [pingpong]=caf_01_pingpong [count]=caf_02_count [fjthrput]=caf_03_fjthrput
    [fjcreate]=caf_04_fjcreate [threadring]=caf_05_threadring [chameneos]=caf_06_chameneos
    [big]=caf_07_big [concdict]=caf_08_concdict [concsll]=caf_09_concsll
    [bndbuffer]=caf_10_bndbuffer [philosopher]=caf_11_philosopher
    [logmap]=caf_14_logmap_${LOGMAP_VARIANT:-request_await_infinite}
    [banking]=caf_15_banking_${BANKING_VARIANT:-request_then_infinite}
    [radixsort]=caf_16_radixsort [sieve]=caf_18_sieve [facloc]=caf_20_facloc
    [trapezoid]=caf_21_trapezoid [recmatmul]=caf_23_recmatmul [quicksort]=caf_24_quicksort
    [apsp]=caf_25_apsp [nqueenk]=caf_28_nqueenk [fib]=caf_29_fib [bitonicsort]=caf_30_bitonicsort
)
all=(pingpong count fjthrput fjcreate threadring chameneos big concdict concsll bndbuffer
     philosopher logmap banking radixsort sieve facloc trapezoid recmatmul quicksort apsp
     nqueenk fib bitonicsort)
[ $# -gt 0 ] && all=("$@")
for b in "${all[@]}"; do
    [ -n "${cafbin[$b]:-}" ] || { echo "savina-compare: unknown benchmark '$b'" >&2; exit 2; }
done

out=$(mktemp -d /tmp/savina-compare.XXXXXX)
# median, min and max of numbers on stdin, one a line: "median min max" (empty: "- - -")
stats() { sort -g | awk '{v[NR]=$1} END {if (!NR) {print "- - -"; exit}
    m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.1f %.1f %.1f\n", m, v[1], v[NR]}'; }

failed=0
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $reps runs each; CAF: $caf; troupe: $troupe" >&2
rows=()
for b in "${all[@]}"; do
    # One run of each side in turn, reps times, so that a change in the machine's load
    # falls on both. CAF prints "<name> iteration-<i>: <ms> ms" (whole ms) per iteration.
    : >"$out/$b.caf"; : >"$out/$b.troupe"; : >"$out/$b.troupe.err"
    for ((i = 1; i <= reps; i++)); do
        echo "# $b ($i/$reps): CAF ${cafbin[$b]} --iterations=1; troupe-bench savina.$b" >&2
        (cd "$out" && timeout 3600 "$caf/${cafbin[$b]}" --iterations=1) >>"$out/$b.caf" 2>&1 ||
            { echo "# $b: CAF exited $?" >&2; failed=1; }
        "$troupe" "savina.$b" timeout=3600 >>"$out/$b.troupe" 2>>"$out/$b.troupe.err" ||
            { echo "# $b: troupe-bench exited $? (see $out/$b.troupe.err)" >&2; failed=1; }
    done
    read -r cm cmin cmax < <(awk '/iteration-[0-9]+:/ {print $(NF-1)}' "$out/$b.caf" | stats)
    read -r tm tmin tmax < <(sed -n 's/.* ns_per_op=\([0-9.]*\).*/\1/p' "$out/$b.troupe" |
                             awk '{printf "%.3f\n", $1 / 1e6}' | stats)
    if [ "$cm" = - ] || [ "$tm" = - ]; then failed=1; fi
    rows+=("$b $cm $cmin $cmax $tm $tmin $tmax")
done

printf '%s\n' "${rows[@]}" | awk -v reps="$reps" '
BEGIN { printf "| benchmark | CAF ms (min-max) | troupe ms (min-max) | troupe/CAF speed |\n";
        printf "|---|---:|---:|---:|\n" }
{
    ratio = "-"
    if ($2 != "-" && $5 != "-" && $5 > 0) {
        r = $2 / $5; ratio = sprintf("%.2fx", r); lg += log(r); n++
        if ($1 != "logmap") { lg2 += log(r); n2++ }
    }
    printf "| %s | %s (%s-%s) | %s (%s-%s) | %s |\n", $1, $2, $3, $4, $5, $6, $7, ratio
}
END { if (n) printf "| geometric mean (%d) | | | %.2fx |\n", n, exp(lg / n)
      # CAF'"'"'s request/await logmap is an outlier (minutes): the mean without it too
      if (n2 && n2 < n) printf "| geometric mean without logmap (%d) | | | %.2fx |\n", n2, exp(lg2 / n2) }'
echo "# raw outputs: $out" >&2
exit $failed
