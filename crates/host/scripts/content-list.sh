# shellcheck shell=sh
# Lists the files of the content directories $2… under `shared/` of the app
# at $1: one `cksum` line each (`CRC SIZE ./dir/path`). A missing directory
# lists nothing. Exits 7 on what a content set does not carry: a link
# (nothing is read or written through one), a special file, or a name
# holding a newline (the list is read by lines).
cd "$1/shared" || exit 3
shift
nl=$(printf '\nx'); nl=${nl%x}
for d in "$@"; do
  if [ -L "$d" ]; then echo "shared/$d is a symbolic link" >&2; exit 7; fi
  [ -e "$d" ] || continue
  if [ ! -d "$d" ]; then echo "shared/$d is not a directory" >&2; exit 7; fi
  find "./$d" ! -type f ! -type d -exec sh -c 'printf "shared/%s is a link or a special file\n" "$@" >&2; exit 1' sh {} + || exit 7
  find "./$d" -name "*$nl*" -exec sh -c 'printf "a name under shared/ holds a newline: %s\n" "$@" >&2; exit 1' sh {} + || exit 7
  find "./$d" -type f -exec cksum {} + || exit 8
done
