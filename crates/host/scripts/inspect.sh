# shellcheck shell=sh
# After live.sh. Defines `inspect_app DIR`: prints, in sections, what is on
# this host for the app at DIR: whether rsync is here, the live release,
# every release and whether it is complete, the lock, the history. Leaves
# the shell in DIR when there is one.
inspect_app() {
  command -v rsync >/dev/null 2>&1 && echo @rsync
  cd "$1" 2>/dev/null || { echo @absent; return 0; }
  echo @current; live
  echo @releases
  for d in releases/*; do
    if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
    if [ -f "$d.manifest" ]; then echo "complete ${d#releases/}"; else echo "partial ${d#releases/}"; fi
  done
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
