# shellcheck shell=sh
# After guard.sh. Stages content set $2 of the app at $1 for the sync whose
# lock token is $4, in its own copy `shared/.haul-content/$2/$3` ($3 is
# named after the token): each of the $5 directories that follow is copied
# as hard links into the copy's `new/`, then the files named on stdin
# (NUL-separated, `./dir/path`: removed or changed ones) are unlinked from
# it, never written into, so the live directories keep every file as it
# was. `content-unpack.sh` then unpacks what changed over `new/`.
#
# A sync stages only while its token holds the lock (exit 9 otherwise, 10
# when the guard stayed held for a minute), so that what a sync that lost
# its lock still writes lands in its own copy, which no other sync switches
# in. Under the guard it first puts back every directory, of any set, that
# a switch stopped between its two renames left absent: such a switch left
# its copy's `switching` (the directories it was switching) and their old
# trees under its `old/`. A directory put back is staged empty, as the
# listing before saw it. The copies of this set's other syncs are then
# removed (a failure is only reported): only this sync holds the lock, so
# none of them is switched in.
{ [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
guard_ready
guard_take || exit
if ! held_by "$4"; then
  echo "the lock of this host is no longer this sync's (cleared by \`haul unlock\` or taken over since it was taken): nothing staged" >&2
  exit 9
fi
cd ../shared || exit 3
c=.haul-content/$2 s=.haul-content/$2/$3 n=$5
shift 5
# plain BASE REL: whether no directory of REL's path under BASE, nor BASE,
# is a symbolic link.
plain() {
  [ ! -L "$1" ] || return 1
  pa=$1 pr=$2
  while :; do
    case $pr in */*) pa=$pa/${pr%%/*} pr=${pr#*/} ;; *) return 0 ;; esac
    [ ! -L "$pa" ] || return 1
  done
}
for l in .haul-content "$c" "$s"; do
  if [ -L "$l" ]; then echo "shared/$l is a symbolic link" >&2; exit 4; fi
done
rm -rf "$s" && mkdir -p "$s/new" || exit 4
for w in .haul-content/*/*/switching; do
  if [ ! -f "$w" ] || [ -L "$w" ]; then continue; fi
  k=${w%/switching}
  if [ -L "${k%/*}" ] || [ -L "$k" ]; then echo "shared/$k is a symbolic link" >&2; exit 4; fi
  while IFS= read -r d || [ -n "$d" ]; do
    if [ -z "$d" ] || [ -e "./$d" ] || [ -L "./$d" ] || [ ! -d "$k/old/$d" ]; then continue; fi
    if ! plain "$k/old" "$d" || ! plain . "$d"; then echo "shared/$k/old/$d or shared/$d passes through a symbolic link; not put back" >&2; exit 4; fi
    mkdir -p "$(dirname "./$d")" && mv "$k/old/$d" "./$d" && mkdir -p "$s/new/$d" || exit 5
    echo "shared/$d was put back as it was before a content switch that was stopped" >&2
  done < "$w"
  rm -f "$w" || exit 5
done
guard_drop
for o in "$c"/* "$c"/.[!.]* "$c"/..?*; do
  [ "$o" = "$s" ] || { [ ! -e "$o" ] && [ ! -L "$o" ]; } || rm -rf "$o" || echo "shared/$o could not be removed" >&2
done
i=0
while [ "$i" -lt "$n" ]; do
  d=$1
  shift
  i=$((i + 1))
  [ -d "$s/new/$d" ] && continue
  mkdir -p "$(dirname "$s/new/$d")" || exit 5
  if [ -d "./$d" ]; then cp -al "./$d" "$s/new/$d" || exit 5; else mkdir "$s/new/$d" || exit 5; fi
done
cd "$s/new" || exit 4
# shellcheck disable=SC2016
xargs -0 sh -c '[ "$#" -eq 0 ] || rm -f -- "$@"' sh || exit 6
