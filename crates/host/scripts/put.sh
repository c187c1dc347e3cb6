# shellcheck shell=sh
# Defines `put FROM TO`: renames the directory FROM to TO, never into a TO
# that appeared meanwhile (another run, the app): `mv -T`, or where `mv`
# has no `-T`, only while TO is still absent. Composed before the scripts
# that move whole trees into place (staging, content switches, removals).
put() { mv -T "$1" "$2" 2>/dev/null || { [ ! -e "$2" ] && [ ! -L "$2" ] && mv "$1" "$2"; }; }
