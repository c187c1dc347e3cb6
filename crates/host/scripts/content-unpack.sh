# shellcheck shell=sh
# Unpacks the tar on stdin over the staged copy $3 of content set $2 of the
# app at $1 (its `new/`, which `content-stage.sh` made). The tar has passed
# haul's gate: only regular files, each one of those asked for, without
# setuid bits.
cd "$1/shared" || exit 3
s=.haul-content/$2/$3
for l in .haul-content ".haul-content/$2" "$s" "$s/new"; do
  if [ -L "$l" ] || [ ! -d "$l" ]; then echo "shared/$s was not staged" >&2; exit 4; fi
done
cd "$s/new" || exit 4
tar -xf - || exit 7
