# shellcheck shell=sh
# Defines `switch_release DIR ID LINE`: switches `current` of the app at DIR
# to the complete release ID by renaming a new link over it, and records
# the history line LINE. Returns 3, 4 or 5 when it refused before moving
# `current`; 6 when `current` moved but the history could not be written
# (any other failure may have moved it too). Leaves the shell in DIR.
switch_release() {
  cd "$1" || return 3
  if [ ! -d "releases/$2" ] || [ ! -f "releases/$2.manifest" ]; then echo "release $2 is not complete on this host" >&2; return 4; fi
  # Tests before `mkdir` and `rm`: a switch is a handful of processes, and
  # usually neither is needed.
  [ -d .haul ] || mkdir -p .haul
  tmp=.haul/current.$$
  if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp"; fi
  if ! { ln -s "releases/$2" "$tmp" && { mv -Tf "$tmp" current 2>/dev/null || mv -hf "$tmp" current; }; }; then rm -f "$tmp"; return 5; fi
  if ! printf '%s\n' "$3" >> .haul/history; then echo "switched to $2, but .haul/history could not be written" >&2; return 6; fi
}
