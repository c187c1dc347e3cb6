# shellcheck shell=sh
# Checks every tool of haul-host's TOOLS (tools.rs), in its order: prints
# `tool yes N` or `tool no N` for the tool at index N. Tests run in a
# scratch directory holding a file `f`, a directory `d` and a symlink
# `l -> d`, removed again. (`[ a -ef b ]` is not POSIX, but every `sh` haul
# meets has it: dash, bash, BusyBox, ksh, zsh.)
t=$(mktemp -d 2>/dev/null || echo "${TMPDIR:-/tmp}/haul-probe-$$"); mkdir -p "$t" && cd "$t" || exit 3
: > f; mkdir d; ln -s d l 2>/dev/null
found() { if [ "$2" -eq 0 ]; then echo "tool yes $1"; else echo "tool no $1"; fi; }
# sh
{ true; } >/dev/null 2>&1; found 0 $?
# tar
{ command -v tar; } >/dev/null 2>&1; found 1 $?
# shellcheck disable=SC3013
# cp -l
{ cp -al f g 2>/dev/null && [ f -ef g ] && rm -f g; } >/dev/null 2>&1; found 2 $?
# mv -T
{ ln -s d l2 && { mv -T l2 m 2>/dev/null || mv -h l2 m 2>/dev/null; } && [ -L m ] && rm -f m l2; } >/dev/null 2>&1; found 3 $?
# ln -s
{ ln -s d l3 && [ -L l3 ] && rm -f l3; } >/dev/null 2>&1; found 4 $?
# mkdir
{ mkdir -p p/q && [ -d p/q ]; } >/dev/null 2>&1; found 5 $?
# rm
{ command -v rm; } >/dev/null 2>&1; found 6 $?
# cat
{ command -v cat; } >/dev/null 2>&1; found 7 $?
# dirname
{ [ "$(dirname a/b)" = a ]; } >/dev/null 2>&1; found 8 $?
# xargs -0
{ [ "$(printf 'x\0' | xargs -0 echo)" = x ]; } >/dev/null 2>&1; found 9 $?
# awk
{ [ "$(echo 'a b' | awk '{ print $2 }')" = b ]; } >/dev/null 2>&1; found 10 $?
# cksum or sha256sum
{ command -v cksum || command -v sha256sum || command -v shasum; } >/dev/null 2>&1; found 11 $?
# grep -F
{ echo 'a.b' | grep -qF a.b; } >/dev/null 2>&1; found 12 $?
# readlink, or ls and sed
{ command -v readlink || { command -v ls && command -v sed; }; } >/dev/null 2>&1; found 13 $?
# rsync
{ command -v rsync; } >/dev/null 2>&1; found 14 $?
# chmod
{ chmod 600 f; } >/dev/null 2>&1; found 15 $?
# wc -c
{ [ "$(printf abc | wc -c)" -eq 3 ]; } >/dev/null 2>&1; found 16 $?
# chown
{ command -v chown; } >/dev/null 2>&1; found 17 $?
# find
{ [ "$(find d -type d)" = d ]; } >/dev/null 2>&1; found 18 $?
cd / && rm -rf "$t"
