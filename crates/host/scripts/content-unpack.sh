# shellcheck shell=sh
# Unpacks the tar on stdin over the staged copy $3 of content set $2 of the
# app at $1 (`content-stage.sh` made it). The tar has passed haul's gate:
# only regular files, each one of those asked for, without setuid bits.
cd "$1/shared" || exit 3
s=.haul-content/$2/$3
if [ -L .haul-content ] || [ -L ".haul-content/$2" ] || [ -L "$s" ] || [ ! -d "$s" ]; then echo "shared/$s was not staged" >&2; exit 4; fi
cd "$s" || exit 4
tar -xf - || exit 7
