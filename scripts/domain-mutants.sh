#!/usr/bin/env bash
# Mutation check of the domain's unit tests (test/unit/mutants/MUTANTS.md).
#
# For each patch in test/unit/mutants/ (or the ones named on the command line): copy the working
# tree to a temporary directory, apply the patch there, run the unit tests of submit, the job
# operations, job ends, the cycle and the API, and report KILLED (with the first failing test)
# or SURVIVED. The working tree itself is never changed. Exits non-zero if any mutant survived or
# no longer applies.
#
#   scripts/domain-mutants.sh                       # all mutants
#   scripts/domain-mutants.sh qdel-no-kill          # one
#   scripts/domain-mutants.sh equivalent/cycle-ignores-started
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/test/unit/mutants"
tests=(test/unit/server/submit.test.ts test/unit/server/ops.test.ts test/unit/server/job-end.test.ts
  test/unit/scheduler/cycle.test.ts test/unit/api/routes.test.ts)
tmp=$(mktemp -d /tmp/mq-domain-mutants.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=scripts/mutant-tree.sh
. "$root/scripts/mutant-tree.sh"
copy_tree

mutant_names "$@"

failed=0
for name in "${names[@]}"; do
  (cd "$tmp" && git checkout -q -- . && git clean -qfd -e node_modules)
  if ! (cd "$tmp" && git apply "$dir/$name.patch" 2>/dev/null); then
    printf '%-36s %-9s\n' "$name" "NO-APPLY"
    failed=1
    continue
  fi
  log="$tmp/.log-${name//\//_}"
  (cd "$tmp" && npx vitest run "${tests[@]}" --reporter=verbose >"$log" 2>&1)
  if [ $? -ne 0 ]; then
    first=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 '×' | sed -E 's/^ *× *//' | cut -c1-110)
    printf '%-36s %-9s %s\n' "$name" "KILLED" "${first:-see $log}"
  else
    printf '%-36s %-9s\n' "$name" "SURVIVED"
    failed=1
  fi
done
exit $failed
