# shellcheck shell=sh
# Defines `put FROM TO`: renames the directory FROM to TO, never into a TO
# that appeared meanwhile (another run, the app): `mv -T`, or where `mv`
# has no `-T`, only while TO is still absent. Composed before the scripts
# that move whole trees into place (staging, content switches, removals).
# Also `put_free`, below.
put() { mv -T "$1" "$2" 2>/dev/null || { [ ! -e "$2" ] && [ ! -L "$2" ] && mv "$1" "$2"; }; }
# put_free FROM PREFIX: puts FROM at the first free `PREFIX.N` (N from 1).
put_free() {
  pf=1
  while [ -e "$2.$pf" ] || [ -L "$2.$pf" ]; do pf=$((pf + 1)); done
  put "$1" "$2.$pf"
}
