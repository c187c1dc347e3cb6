# shellcheck shell=sh
# Switches `current` of the app at $1 to the complete release $2 by renaming
# a new link over it, and records the history line $3.
cd "$1" || exit 3
if [ ! -d "releases/$2" ] || [ ! -f "releases/$2.manifest" ]; then echo "release $2 is not complete on this host" >&2; exit 4; fi
mkdir -p .haul
tmp=.haul/current.$$
rm -f "$tmp"
if ! { ln -s "releases/$2" "$tmp" && { mv -Tf "$tmp" current 2>/dev/null || mv -hf "$tmp" current; }; }; then rm -f "$tmp"; exit 5; fi
printf '%s\n' "$3" >> .haul/history
