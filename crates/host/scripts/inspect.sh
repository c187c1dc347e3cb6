# shellcheck shell=sh
# After live.sh and leftovers.sh. Defines `inspect_app DIR`: prints, in
# sections, what is on this host for the app at DIR: whether rsync is here,
# the live release, every release and whether it is complete, whether runs
# left anything for a prune to delete, the lock, the history. Leaves
# the shell in DIR when there is one.
say_leftovers() { echo leftovers; return 1; }
inspect_app() {
  command -v rsync >/dev/null 2>&1 && echo @rsync
  cd "$1" 2>/dev/null || { echo @absent; return 0; }
  echo @current; live
  echo @releases
  for d in releases/*; do
    if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
    if [ -f "$d.manifest" ]; then echo "complete ${d#releases/}"; else echo "partial ${d#releases/}"; fi
  done
  # Whether runs staging or removing here left names a prune deletes,
  # so that a prune runs for them alone.
  each_leftover say_leftovers || :
  # The lock is one line, read by the shell itself rather than by `cat`.
  echo @lock
  if [ -f .haul/lock ]; then
    echo '#present'
    { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < .haul/lock; } 2>/dev/null
    echo
  fi
  echo @history; cat .haul/history 2>/dev/null
  return 0
}
