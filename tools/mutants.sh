#!/usr/bin/env bash
# mutants — a mutation check: do the tests catch the bugs they exist for?
#
# Applies each mutant of tests/mutants.txt (format at the top of that file)
# one at a time to a scratch copy of the tree (build-mutants/src: the tracked
# and untracked-but-not-ignored files, synced so unchanged files keep their
# times), builds there in one reused build dir (build-mutants/build, so only
# what a mutant touches is rebuilt), runs the mutant's tests, and puts the
# file back. The working tree is only read.
#
# Exit status: 0 when every mutant was caught; 1 when one survived (its
# tests still passed), no longer applies (its `from:` text is not in its file
# exactly once), or does not compile; 2 on a bad spec or a baseline failure
# (the tests fail without any mutant, so nothing could be judged).
#
#   tools/mutants.sh [NAME-REGEX]    only the mutants whose name matches
#   env: MUTANTS_SPEC (tests/mutants.txt), MUTANTS_DIR (build-mutants),
#        JOBS (nproc), MUTANTS_CTEST_ARGS (--output-on-failure -j2), MUTANTS_BASELINE (1; 0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."

spec=${MUTANTS_SPEC:-tests/mutants.txt}
work=${MUTANTS_DIR:-build-mutants}
jobs=${JOBS:-$(nproc)}
ctest_args=${MUTANTS_CTEST_ARGS:---output-on-failure -j2}
only=${1:-}
src=$work/src
bld=$work/build
logs=$work/logs

die() {
    echo "mutants: $*" >&2
    exit 2
}

# ------------------------------------------------------------------ the spec

names=() files=() tests=() froms=() tos=()
lineno=0

s_reset() {
    cur_name='' cur_file='' cur_tests='' cur_from='' cur_to='' cur_key=''
    have_from=0 have_to=0 n_from=0 n_to=0 block_line=0
}
s_reset

flush() {
    [ "$block_line" != 0 ] || return 0
    local at="$spec:$block_line"
    [ -n "$cur_name" ] || die "$at: a mutant without name:"
    [ -n "$cur_file" ] || die "$at: mutant '$cur_name' has no file:"
    [ -n "$cur_tests" ] || die "$at: mutant '$cur_name' has no tests:"
    [ $have_from = 1 ] && [ $n_from -gt 0 ] || die "$at: mutant '$cur_name' has no from: text"
    [ $have_to = 1 ] || die "$at: mutant '$cur_name' has no to:"
    [ "$cur_from" != "$cur_to" ] || die "$at: mutant '$cur_name' changes nothing"
    local n
    for n in "${names[@]}"; do
        [ "$n" != "$cur_name" ] || die "$at: mutant '$cur_name' named twice"
    done
    names+=("$cur_name") files+=("$cur_file") tests+=("$cur_tests")
    froms+=("$cur_from") tos+=("$cur_to")
    s_reset
}

trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    printf '%s' "$s"
}

[ -f "$spec" ] || die "no spec file $spec"
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case $line in
    '#'*) continue ;;
    '|'*)
        text=${line#|}
        case $cur_key in
        from)
            [ $n_from = 0 ] || cur_from+=$'\n'
            cur_from+=$text n_from=$((n_from + 1))
            ;;
        to)
            [ $n_to = 0 ] || cur_to+=$'\n'
            cur_to+=$text n_to=$((n_to + 1))
            ;;
        *) die "$spec:$lineno: a | line outside from: or to:" ;;
        esac
        continue
        ;;
    esac
    if [ -z "$(trim "$line")" ]; then
        flush
        continue
    fi
    key=${line%%:*}
    [ "$key" != "$line" ] || die "$spec:$lineno: expected KEY: VALUE, got: $line"
    val=$(trim "${line#*:}")
    [ "$key" != name ] || flush
    [ "$block_line" != 0 ] || block_line=$lineno
    case $key in
    name) cur_name=$val cur_key="" ;;
    file) cur_file=$val cur_key="" ;;
    tests) cur_tests=$val cur_key="" ;;
    from)
        [ $have_from = 0 ] || die "$spec:$lineno: from: twice"
        have_from=1 cur_key=from cur_from=$val
        [ -z "$val" ] || n_from=1
        ;;
    to)
        [ $have_to = 0 ] || die "$spec:$lineno: to: twice"
        have_to=1 cur_key=to cur_to=$val
        [ -z "$val" ] || n_to=1
        ;;
    *) die "$spec:$lineno: unknown key '$key'" ;;
    esac
done <"$spec"
flush

selected=()
for i in "${!names[@]}"; do
    if [ -z "$only" ] || [[ ${names[$i]} =~ $only ]]; then
        selected+=("$i")
    fi
done
[ ${#selected[@]} -gt 0 ] || die "no mutant in $spec${only:+ matches '$only'}"

# ------------------------------------------------------------- the scratch copy

command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 ||
    die "needs a git checkout (to know which files belong to the tree)"
mkdir -p "$src" "$bld" "$logs"
declare -A in_tree=()
copied=0
while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue # deleted in the work tree, still in the index
    in_tree[$f]=1
    if ! cmp -s "$f" "$src/$f" 2>/dev/null; then
        mkdir -p "$src/$(dirname "$f")"
        cp -p "$f" "$src/$f"
        touch "$src/$f" # newer than what the build dir made of the old copy
        copied=$((copied + 1))
    fi
done < <(git ls-files -z --cached --others --exclude-standard)
removed=0
while IFS= read -r -d '' f; do
    rel=${f#"$src"/}
    if [ -z "${in_tree[$rel]:-}" ]; then
        rm -f "$f"
        removed=$((removed + 1))
    fi
done < <(find "$src" -type f -print0)
# The JavaScript suites' packages are not part of the tree: link them in.
for nm in tests/integration/node_modules tests/e2e/node_modules; do
    if [ -d "$nm" ] && [ ! -e "$src/$nm" ]; then
        ln -s "$PWD/$nm" "$src/$nm"
    fi
done
echo "mutants: scratch copy $src ($copied files copied, $removed removed)"

# Every selected mutant must apply exactly once before anything is built.
# s_apply FILE FROM TO [check]: replaces the one occurrence (or only counts).
s_apply() {
    FROM=$2 TO=$3 CHECK=${4:-} perl -e '
        my $f = shift;
        open(my $in, "<", $f) or die "cannot read $f: $!\n";
        local $/; my $s = <$in>; close $in;
        my ($from, $to) = ($ENV{FROM}, $ENV{TO});
        my ($n, $at) = (0, -1);
        for (my $i = index($s, $from); $i >= 0; $i = index($s, $from, $i + 1)) {
            $at = $i if $n++ == 0;
        }
        if ($n != 1) { print "$n\n"; exit 3 }
        exit 0 if $ENV{CHECK};
        substr($s, $at, length $from) = $to;
        open(my $out, ">", $f) or die "cannot write $f: $!\n";
        print $out $s; close $out;' "$1"
}

declare -A status=() secs=()
stale=0
for i in "${selected[@]}"; do
    f=${files[$i]}
    if [ ! -f "$src/$f" ]; then
        status[$i]="NO FILE"
        stale=1
    elif ! n=$(s_apply "$src/$f" "${froms[$i]}" "${tos[$i]}" check); then
        status[$i]="STALE (found ${n:-?}x)"
        stale=1
    fi
done

runnable=()
for i in "${selected[@]}"; do
    [ -n "${status[$i]:-}" ] || runnable+=("$i")
done

# ------------------------------------------------------------------- building

# A mutant's tests → the targets to build: unit.X is target X; anything else
# (integration tests run the programs) builds everything.
s_targets() {
    local listed t out=()
    listed=$(cd "$bld" && ctest -N -R "$1" | sed -n 's/^ *Test *#[0-9]*: *//p')
    [ -n "$listed" ] || return 1
    for t in $listed; do
        case $t in
        unit.*) out+=("${t#unit.}") ;;
        *)
            echo all
            return 0
            ;;
        esac
    done
    echo "${out[@]}"
}

s_build() { # s_build LOG TARGET… (or "all")
    local log=$1
    shift
    if [ "$1" = all ]; then
        cmake --build "$bld" -j "$jobs" >>"$log" 2>&1
    else
        cmake --build "$bld" -j "$jobs" --target "$@" >>"$log" 2>&1
    fi
}

s_table() {
    printf '\n%-40s %-22s %-24s %-20s %6s\n' MUTANT FILE TESTS RESULT TIME
    for i in "${selected[@]}"; do
        printf '%-40s %-22s %-24s %-20s %6s\n' "${names[$i]}" "${files[$i]}" "${tests[$i]}" \
            "${status[$i]:-not run}" "${secs[$i]:+${secs[$i]}s}"
    done
    echo
}

if [ ${#runnable[@]} = 0 ]; then
    s_table
    echo "mutants: FAILED — no selected mutant applies any more (update $spec)"
    exit 1
fi

echo "mutants: configuring and building $bld"
cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$logs/configure.log" 2>&1 ||
    {
        tail -30 "$logs/configure.log"
        die "configure failed ($logs/configure.log)"
    }
: >"$logs/baseline.log"
s_build "$logs/baseline.log" all || {
    tail -30 "$logs/baseline.log"
    die "the unmutated tree does not build ($logs/baseline.log)"
}

if [ "${MUTANTS_BASELINE:-1}" != 0 ]; then
    # One regex of the test names the mutants name (ctest's regex engine
    # takes few groups, so the mutants' regexes are resolved to names first).
    declare -A seen=()
    for i in "${runnable[@]}"; do
        while read -r t; do
            seen[$t]=1
        done < <(cd "$bld" && ctest -N -R "${tests[$i]}" | sed -n 's/^ *Test *#[0-9]*: *//p')
    done
    union=''
    for t in "${!seen[@]}"; do
        union+=${union:+|}${t//./\\.}
    done
    union="^(${union})\$"
    echo "mutants: baseline: the mutants' tests on the unmutated tree"
    (cd "$bld" && ctest $ctest_args --no-tests=error -R "$union") >>"$logs/baseline.log" 2>&1 || {
        tail -40 "$logs/baseline.log"
        die "the tests fail without any mutant ($logs/baseline.log): nothing can be judged"
    }
fi

# -------------------------------------------------------------------- mutants

failed=$stale
for i in "${runnable[@]}"; do
    name=${names[$i]} f=${files[$i]}
    slug=$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '_')
    log=$logs/$slug.log
    : >"$log"
    start=$(date +%s)
    echo "mutants: [$name] $f"
    cp -p "$src/$f" "$work/orig.tmp"
    s_apply "$src/$f" "${froms[$i]}" "${tos[$i]}" >/dev/null
    if ! targets=$(s_targets "${tests[$i]}"); then
        status[$i]="NO TESTS"
        failed=1
    elif ! s_build "$log" $targets; then
        status[$i]="BROKEN (no build)"
        failed=1
    elif (cd "$bld" && ctest $ctest_args --no-tests=error -R "${tests[$i]}") >>"$log" 2>&1; then
        status[$i]="SURVIVED"
        failed=1
    else
        status[$i]="caught"
    fi
    cp "$work/orig.tmp" "$src/$f" # a new time: the next build recompiles it
    rm -f "$work/orig.tmp"
    secs[$i]=$(($(date +%s) - start))
done

# ---------------------------------------------------------------------- table

s_table
if [ "$failed" != 0 ]; then
    echo "mutants: FAILED — a mutant survived, no longer applies or does not build" \
        "(logs in $logs; update $spec when code moved)"
    exit 1
fi
echo "mutants: all ${#selected[@]} caught"
