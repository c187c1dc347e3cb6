# shellcheck shell=sh
# After guard.sh. Puts the staged directories $4… of content set $2 in place
# under `shared/` of the app at $1: each live one is renamed aside, the
# staged one renamed into its place (or the live one back, when that
# fails), and the old one removed. The renames are made under the lock's
# guard and only while token $3 holds the app's lock, as every switch of
# `current` is (switch.sh): a sync whose lock was cleared (`haul unlock`)
# or taken over since it took it moves nothing and exits 9 (10 when the
# guard stayed held for a minute).
{ [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
guard_ready
guard_take || exit
if ! held_by "$3"; then
  echo "the lock of this host is no longer this sync's (cleared by \`haul unlock\` or taken over since it was taken): shared/ not switched" >&2
  exit 9
fi
cd ../shared || exit 3
s=.haul-content/$2
shift 3
for d in "$@"; do
  if [ ! -d "$s/$d" ] || [ -L "$s/$d" ]; then echo "shared/$d was not staged" >&2; exit 4; fi
done
for d in "$@"; do
  rm -rf "$s/$d.old"
  if [ -e "$d" ] || [ -L "$d" ]; then mv "$d" "$s/$d.old" || exit 5; fi
  if ! mv "$s/$d" "$d"; then
    if [ -e "$s/$d.old" ]; then mv "$s/$d.old" "$d"; fi
    echo "shared/$d could not be switched" >&2
    exit 6
  fi
done
# The old trees are removed after the guard ends: nobody waits on them.
unguard
rm -rf "$s"
