# Sourced by scripts/mutants.sh and scripts/domain-mutants.sh: a copy of the tree as it is now
# (tracked and untracked files, not ignored ones) in "$tmp", sharing node_modules, committed so
# each patch applies to a clean base. The original is never patched, so an interrupted run leaves
# nothing behind. Needs $root and $tmp; sets $names to the mutants asked for ("$@"), or every
# patch in $dir.
copy_tree() {
  (cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tmp" 2>/dev/null) || true
  ln -s "$root/node_modules" "$tmp/node_modules"
  [ -d "$root/cli/node_modules" ] && ln -s "$root/cli/node_modules" "$tmp/cli/node_modules"
  (cd "$tmp" && git init -q . && git add -A && git -c user.email=m@m -c user.name=mutants commit -qm base)
}

mutant_names() {
  if [ $# -gt 0 ]; then names=("$@"); else names=(); for p in "$dir"/*.patch; do names+=("$(basename "$p" .patch)"); done; fi
}
