# shellcheck shell=sh
# Puts the staged directories $3… of content set $2 in place under
# `shared/` of the app at $1: each live one is renamed aside, the staged one
# renamed into its place (or the live one back, when that fails), and the
# old one removed.
cd "$1/shared" || exit 3
s=.haul-content/$2
shift 2
for d in "$@"; do
  if [ ! -d "$s/$d" ] || [ -L "$s/$d" ]; then echo "shared/$d was not staged" >&2; exit 4; fi
done
for d in "$@"; do
  rm -rf "$s/$d.old"
  if [ -e "$d" ] || [ -L "$d" ]; then mv "$d" "$s/$d.old" || exit 5; fi
  if ! mv "$s/$d" "$d"; then
    if [ -e "$s/$d.old" ]; then mv "$s/$d.old" "$d"; fi
    echo "shared/$d could not be switched" >&2
    exit 6
  fi
done
rm -rf "$s"
