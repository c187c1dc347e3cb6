# shellcheck shell=sh
# After guard.sh. Stages content set $2 of the app at $1 for the sync whose
# lock token is $4, in its own copy `shared/.haul-content/$2/$3` ($3 is
# named after the token): each of the $5 directories that follow is copied
# as hard links, then the files named on stdin (NUL-separated,
# `./dir/path`: removed or changed ones) are unlinked from the copy, never
# written into, so the live directories keep every file as it was.
# `content-unpack.sh` then unpacks what changed over the copy.
#
# A sync stages only while its token holds the lock (exit 9 otherwise, 10
# when the guard stayed held for a minute), so that what a sync that lost
# its lock still writes lands in its own copy, which no other sync switches
# in. Under the guard it first puts back a directory that a switch stopped
# between its two renames left absent (its old tree is `D.old` in that
# switch's copy); such a directory is staged empty, as the listing before
# saw it. The copies of other syncs are then removed (a failure is only
# reported): only this sync holds the lock, so none of them is switched in.
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
for l in .haul-content "$c" "$s"; do
  if [ -L "$l" ]; then echo "shared/$l is a symbolic link" >&2; exit 4; fi
done
rm -rf "$s" && mkdir -p "$s" || exit 4
i=0
for d in "$@"; do
  i=$((i + 1))
  [ "$i" -le "$n" ] || break
  [ -e "$d" ] || [ -L "$d" ] && continue
  # (`$c/D.old`: where a haul that staged in one copy per set left it.)
  for o in "$c"/*/"$d.old" "$c/$d.old"; do
    if [ -d "$o" ] && [ ! -L "$o" ]; then
      mkdir -p "$(dirname "$d")" && mv "$o" "$d" && mkdir -p "$s/$d" || exit 5
      echo "shared/$d was put back as it was before a content switch that was stopped" >&2
      break
    fi
  done
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
  [ -d "$s/$d" ] && continue
  mkdir -p "$s/$(dirname "$d")" || exit 5
  if [ -d "$d" ]; then cp -al "$d" "$s/$d" || exit 5; else mkdir "$s/$d" || exit 5; fi
done
cd "$s" || exit 4
# shellcheck disable=SC2016
xargs -0 sh -c '[ "$#" -eq 0 ] || rm -f -- "$@"' sh || exit 6
