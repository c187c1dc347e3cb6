# shellcheck shell=sh
# Stages content set $2 under `shared/.haul-content/$2` of the app at $1:
# each of the $4 directories that follow is copied as hard links, then the
# files after them (`./dir/path`: removed or changed ones) are unlinked,
# never written into, so the live directories keep every file as it was;
# then, when $3 is `tar`, the tar on stdin is unpacked over the copy.
cd "$1/shared" || exit 3
s=.haul-content/$2 with=$3 n=$4
shift 4
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
for f in "$@"; do
  rm -f "$f" || exit 6
done
if [ "$with" = tar ]; then tar -xf - || exit 7; fi
