# shellcheck shell=sh
# Stages content set $2 under `shared/.haul-content/$2` of the app at $1:
# each of the $3 directories that follow is copied as hard links, then the
# files named on stdin (NUL-separated, `./dir/path`: removed or changed
# ones) are unlinked from the copy, never written into, so the live
# directories keep every file as it was. `content-unpack.sh` then unpacks
# what changed over the copy.
cd "$1/shared" || exit 3
s=.haul-content/$2 n=$3
shift 3
if [ -L .haul-content ] || [ -L "$s" ]; then echo "shared/$s is a symbolic link" >&2; exit 4; fi
rm -rf "$s" && mkdir -p "$s" || exit 4
i=0
while [ "$i" -lt "$n" ]; do
  d=$1
  shift
  i=$((i + 1))
  mkdir -p "$s/$(dirname "$d")" || exit 5
  if [ -d "$d" ]; then cp -al "$d" "$s/$d" || exit 5; else mkdir "$s/$d" || exit 5; fi
done
cd "$s" || exit 4
# shellcheck disable=SC2016
xargs -0 sh -c '[ "$#" -eq 0 ] || rm -f -- "$@"' sh || exit 6
