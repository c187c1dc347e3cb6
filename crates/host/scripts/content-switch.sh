# shellcheck shell=sh
# After guard.sh and put.sh. Puts the directories $5… staged in copy $3 of content set
# $2 (`content-stage.sh`, under the copy's `new/`) in place under `shared/`
# of the app at $1: each live one is renamed aside (into the copy's
# `old/`), the staged one renamed into its place (or the live one back,
# when that fails), and the old ones removed. The renames are made under
# the lock's guard and only while token $4 holds the app's lock, as every
# switch of `current` is: a sync whose lock was cleared (`haul unlock`) or
# taken over since it took it moves nothing and exits 9 (10 when the guard
# stayed held for a minute). Exits 11 when it failed after some directory
# was switched (the host is partly switched); a failure to remove the old
# trees afterwards is only reported.
#
# Between the first rename and the last, a hang-up, an interrupt or a
# closed pipe (haul killed, the connection lost) does not stop it. Whatever
# stops it there anyway leaves the copy's `switching` (written before the
# first rename), what it had not switched in yet under `new/` and the old
# trees under `old/`: the next sync of the set settles them
# (`content-stage.sh`). A directory that could be neither switched nor put
# back (made anew meanwhile) exits 11 and is left so too.
{ [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
guard_for "$4" sync "shared/ not switched"
cd ../shared || exit 3
s=.haul-content/$2/$3
shift 4
for l in .haul-content "${s%/*}" "$s" "$s/new"; do
  if [ -L "$l" ]; then echo "shared/$l is a symbolic link" >&2; exit 4; fi
done
for d in "$@"; do
  if [ ! -d "$s/new/$d" ] || [ -L "$s/new/$d" ]; then echo "shared/$d was not staged" >&2; exit 4; fi
done
trap '' PIPE HUP INT QUIT TERM
rm -rf "$s/old" && printf '%s\n' "$@" > "$s/switching" || exit 5
moved=
for d in "$@"; do
  mkdir -p "$(dirname "$s/old/$d")" || exit "${moved:-5}"
  if [ -e "./$d" ] || [ -L "./$d" ]; then put "./$d" "$s/old/$d" || { echo "shared/$d could not be moved aside" >&2; exit "${moved:-5}"; }; fi
  if ! put "$s/new/$d" "./$d"; then
    if [ -e "$s/old/$d" ] && ! put "$s/old/$d" "./$d"; then
      echo "shared/$d could not be switched, nor put back (it was made anew meanwhile): the tree it had is in shared/$s/old/$d" >&2
      exit 11
    fi
    echo "shared/$d could not be switched" >&2
    exit "${moved:-6}"
  fi
  moved=11
done
# Switched: what is under old/ now is only to be removed.
rm -f "$s/switching" || echo "switched, but shared/$s/switching could not be removed" >&2
trap - PIPE HUP INT QUIT TERM
# The old trees are removed after the guard ends: nobody waits on them.
unguard
rm -rf "$s" || echo "switched, but shared/$s could not be removed" >&2
rmdir "${s%/*}" .haul-content 2>/dev/null
exit 0
