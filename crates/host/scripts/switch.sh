# shellcheck shell=sh
# Switches `current` of the app at $1 to the complete release $2 by renaming
# a new link over it, and records the history line $3. Exits 3, 4 or 5 when
# it refused before moving `current`; 6 when `current` moved but the history
# could not be written (any other failure may have moved it too).
cd "$1" || exit 3
if [ ! -d "releases/$2" ] || [ ! -f "releases/$2.manifest" ]; then echo "release $2 is not complete on this host" >&2; exit 4; fi
# Tests before `mkdir` and `rm`: a switch is a handful of processes, and
# usually neither is needed.
[ -d .haul ] || mkdir -p .haul
tmp=.haul/current.$$
if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp"; fi
if ! { ln -s "releases/$2" "$tmp" && { mv -Tf "$tmp" current 2>/dev/null || mv -hf "$tmp" current; }; }; then rm -f "$tmp"; exit 5; fi
if ! printf '%s\n' "$3" >> .haul/history; then echo "switched to $2, but .haul/history could not be written" >&2; exit 6; fi
