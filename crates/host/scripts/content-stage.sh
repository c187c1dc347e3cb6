# shellcheck shell=sh
# After guard.sh and put.sh. Stages content set $2 of the app at $1 for the sync whose
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
# in. Under the guard it first settles what a switch of this set stopped
# between its renames left: its copy's `switching` lists the directories
# it was switching, `new/` holds those it had not switched in yet, `old/`
# the live trees it had moved aside. A listed directory of this set that was not switched
# and is absent is put back from `old/` (and staged empty, as the listing
# before saw it); one that exists again (made anew since) is a conflict
# this script does not guess at: it exits 12, naming where the old tree
# is, and keeps it. Only names this sync was given are ever moved. The
# copies of this set's other syncs are then removed (a failure is only
# reported), except one that still lists directories this sync was not
# given, which is kept and named: only this sync holds the lock, so none
# of them is switched in.
{ [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
# Nothing stops it while it holds the guard (a hang-up would skip the exit
# that releases it, in dash and BusyBox).
trap '' PIPE HUP INT QUIT TERM
guard_for "$4" sync "nothing staged"
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
# The directories given, one per line (haul.toml refuses newlines in them).
given=
for d in "$@"; do given="$given$d
"; done
# listed LIST NAME: whether NAME is a line of LIST.
listed() { case "
$1" in *"
$2
"*) return 0 ;; esac; return 1; }
restored=
for w in "$c"/*/switching; do
  if [ ! -f "$w" ] || [ -L "$w" ]; then continue; fi
  k=${w%/switching}
  if [ -L "$k" ] || [ -L "$k/old" ]; then echo "shared/$k is a symbolic link" >&2; exit 4; fi
  left=
  while IFS= read -r d || [ -n "$d" ]; do
    if ! listed "$given" "$d"; then left=1; continue; fi
    # Switched (its staged tree is in place), or nothing was set aside.
    if [ ! -e "$k/new/$d" ] || { [ ! -e "$k/old/$d" ] && [ ! -L "$k/old/$d" ]; }; then continue; fi
    if [ -e "./$d" ] || [ -L "./$d" ]; then
      echo "shared/$d was made anew after a content switch was stopped between its renames; the tree it had before is kept in shared/$k/old/$d: put back what belongs in shared/$d, remove shared/$k, and sync again" >&2
      exit 12
    fi
    if ! plain "$k/old" "$d" || ! plain . "$d"; then echo "shared/$k/old/$d or shared/$d passes through a symbolic link; not put back" >&2; exit 4; fi
    mkdir -p "$(dirname "./$d")" || exit 5
    if ! put "$k/old/$d" "./$d"; then
      echo "shared/$d appeared while the tree it had before a stopped content switch was being put back; that tree is kept in shared/$k/old/$d" >&2
      exit 12
    fi
    restored="$restored$d
"
    echo "shared/$d was put back as it was before a content switch that was stopped" >&2
  done < "$w"
  [ -n "$left" ] || rm -f "$w" || exit 5
done
if [ -f "$s/switching" ]; then echo "shared/$s holds a stopped switch of directories this sync does not stage; kept" >&2; exit 12; fi
rm -rf "$s" && mkdir -p "$s/new" || exit 4
guard_drop
trap - PIPE HUP INT QUIT TERM
for o in "$c"/* "$c"/.[!.]* "$c"/..?*; do
  if [ "$o" = "$s" ] || { [ ! -e "$o" ] && [ ! -L "$o" ]; }; then continue; fi
  if [ -f "$o/switching" ] && [ ! -L "$o" ]; then echo "shared/$o is kept: a content switch stopped there left directories this sync does not stage" >&2; continue; fi
  rm -rf "$o" || echo "shared/$o could not be removed" >&2
done
i=0
while [ "$i" -lt "$n" ]; do
  d=$1
  shift
  i=$((i + 1))
  mkdir -p "$(dirname "$s/new/$d")" || exit 5
  if listed "$restored" "$d"; then mkdir "$s/new/$d" || exit 5; continue; fi
  if [ -d "./$d" ]; then cp -al "./$d" "$s/new/$d" || exit 5; else mkdir "$s/new/$d" || exit 5; fi
done
cd "$s/new" || exit 4
# shellcheck disable=SC2016
xargs -0 sh -c '[ "$#" -eq 0 ] || rm -f -- "$@"' sh || exit 6
