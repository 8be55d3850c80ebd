#!/usr/bin/env bash
# Mutation check of the transfer protocol's property test (test/unit/peers/MUTANTS.md).
#
# For each patch in test/unit/peers/mutants/ (or the ones named on the command line): copy the
# working tree to a temporary directory, apply the patch there, run the property test with the
# normal CI numRuns, and report KILLED (the test failed, after how many schedules) or SURVIVED.
# The working tree itself is never changed. Exits non-zero if any mutant survived or did not apply.
#
#   scripts/mutants.sh                      # all mutants
#   scripts/mutants.sh late-accept-commit   # one
#   MQ_PROPTEST_SEED=42 scripts/mutants.sh  # a fixed seed (default: a new random one per mutant)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/test/unit/peers/mutants"
test_file=test/unit/peers/transfer.property.test.ts
tmp=$(mktemp -d /tmp/mq-mutants.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=scripts/mutant-tree.sh
. "$root/scripts/mutant-tree.sh"
copy_tree

mutant_names "$@"

printf '%-28s %-10s %s\n' mutant result "schedules to first failure"
failed=0
for name in "${names[@]}"; do
  patch="$dir/$name.patch"
  (cd "$tmp" && git checkout -q -- . && git clean -qfd -e node_modules)
  if ! (cd "$tmp" && git apply "$patch" 2>/dev/null); then
    printf '%-28s %-10s %s\n' "$name" "NO-APPLY" "-"
    failed=1
    continue
  fi
  log="$tmp/.log-${name//\//_}"
  start=$(date +%s)
  (cd "$tmp" && MQ_PROPTEST_NO_SHRINK=1 npx vitest run "$test_file" -t "long random schedules" >"$log" 2>&1)
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -ne 0 ]; then
    n=$(grep -oE 'Property failed after [0-9]+ tests' "$log" | grep -oE '[0-9]+' | head -1)
    seed=$(grep -oE 'seed: -?[0-9]+' "$log" | head -1 | grep -oE -- '-?[0-9]+')
    why=$(grep -m1 -E 'Caused by: ' "$log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^.*Caused by: //' | cut -c1-90)
    if [ -z "$n" ]; then
      printf '%-28s %-10s %s\n' "$name" "ERROR" "test did not run (see below)"
      sed -E 's/\x1b\[[0-9;]*m//g' "$log" | tail -20
      failed=1
    else
      printf '%-28s %-10s %s\n' "$name" "KILLED" "$n (seed $seed, ${secs}s): $why"
    fi
  else
    printf '%-28s %-10s %s\n' "$name" "SURVIVED" "- (${secs}s)"
    failed=1
  fi
done
exit $failed
