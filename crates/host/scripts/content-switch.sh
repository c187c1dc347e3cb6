# shellcheck shell=sh
# After guard.sh. Puts the directories $5… staged in copy $3 of content set
# $2 (`content-stage.sh`) in place under `shared/` of the app at $1: each
# live one is renamed aside, the staged one renamed into its place (or the
# live one back, when that fails), and the old one removed. The renames are
# made under the lock's guard and only while token $4 holds the app's
# lock, as every switch of
# `current` is (switch.sh): a sync whose lock was cleared (`haul unlock`)
# or taken over since it took it moves nothing and exits 9 (10 when the
# guard stayed held for a minute). Exits 11 when it failed after some
# directory was switched (the host is partly switched); a failure to remove
# the old trees afterwards is only reported. A hang-up, an interrupt or a
# closed pipe (haul killed, the connection lost) does not stop it between
# two renames; whatever stops it there anyway leaves the old tree as `D.old`
# in the copy, which the next sync's staging puts back.
trap '' PIPE HUP INT QUIT TERM
{ [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
guard_ready
guard_take || exit
if ! held_by "$4"; then
  echo "the lock of this host is no longer this sync's (cleared by \`haul unlock\` or taken over since it was taken): shared/ not switched" >&2
  exit 9
fi
cd ../shared || exit 3
s=.haul-content/$2/$3
shift 4
if [ -L .haul-content ] || [ -L "${s%/*}" ] || [ -L "$s" ]; then echo "shared/$s is a symbolic link" >&2; exit 4; fi
for d in "$@"; do
  if [ ! -d "$s/$d" ] || [ -L "$s/$d" ]; then echo "shared/$d was not staged" >&2; exit 4; fi
done
# put FROM TO: renames FROM to TO, never into a TO that appeared
# meanwhile (`-T`; where `mv` has no `-T`, only while TO is still absent).
put() { mv -T "$1" "$2" 2>/dev/null || { [ ! -e "$2" ] && [ ! -L "$2" ] && mv "$1" "$2"; }; }
moved=
for d in "$@"; do
  rm -rf "$s/$d.old"
  if [ -e "$d" ] || [ -L "$d" ]; then put "$d" "$s/$d.old" || { echo "shared/$d could not be moved aside" >&2; exit "${moved:-5}"; }; fi
  if ! put "$s/$d" "$d"; then
    if [ -e "$s/$d.old" ]; then put "$s/$d.old" "$d"; fi
    echo "shared/$d could not be switched" >&2
    exit "${moved:-6}"
  fi
  moved=11
done
# The old trees are removed after the guard ends: nobody waits on them.
unguard
rm -rf "$s" || echo "switched, but shared/$s could not be removed" >&2
rmdir "${s%/*}" .haul-content 2>/dev/null
exit 0
