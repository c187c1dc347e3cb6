# shellcheck shell=sh
# After guard.sh. Writes standard input to the secret file $2 under shared/
# of the app at $1, with mode $3 (octal) and owner $4 (`user`,
# `user:group`, `:group`, or empty: the connecting user's), and checks it
# holds $5 bytes, for the run whose lock token is $6. The value arrives
# only on standard input; this script never prints it.
#
# Atomic: the bytes go to a file in a directory of this script's own
# beside the file (`.haul-secret.<pid>`, made new under `umask 077`, so
# 0700, and written from within), created there under that umask, so it
# is 0600 before its first byte; it gets its owner and mode, then is
# renamed over the file. A reader sees the old file or the new one, never
# part of one, and nothing someone placed beside the file (a link, a FIFO)
# is ever written to.
#
# Only while token $6 holds the app's lock: checked before anything is
# written (then the temporary files a killed run left are removed), and
# again under the lock's guard around the rename, as every switch is. A
# run whose lock was cleared (`haul unlock`) or taken over since it took it
# writes nothing and exits 9 (10 when the guard stayed held for a minute):
# it cannot put an older value over a newer run's.
#
# Never through a link: `shared/` and every directory of the path below it
# must be a plain directory (missing ones are made), and the file itself a
# plain file or absent. Exits 3 when it refused, 4 when the bytes that
# arrived are not all of them, 5 when a step failed.
set -u
umask 077
dir=$1 path=$2 mode=$3 owner=$4 size=$5 token=$6
refuse() { printf '%s\n' "$1" >&2; exit 3; }
lost() {
  echo "the lock of this host is no longer this run's (cleared by \`haul unlock\` or taken over since it was taken): secret file not written" >&2
  exit 9
}
# The path came checked from haul.toml, or from a server: checked again.
case /$path/ in
*/../* | */./* | *//*) refuse "secret file path $path is not a plain relative path" ;;
esac
case $path in
/* | *.haul-secret | .haul-secret* | */.haul-secret*) refuse "secret file path $path is not a plain relative path" ;;
esac
case $owner in
-* | *[!A-Za-z0-9._:-]*) refuse "secret file owner $owner is not a user or group name" ;;
esac
cd "$dir" || exit 5
( cd .haul 2>/dev/null && held_by "$token" ) || lost
[ -L shared ] && refuse "shared is a symlink; haul writes secrets only into a plain shared/ directory"
if [ ! -d shared ]; then mkdir -m 755 shared || exit 5; fi
at=shared rest=$path
while :; do
	case $rest in
	*/*) part=${rest%%/*}; rest=${rest#*/} ;;
	*) break ;;
	esac
	at=$at/$part
	[ -L "$at" ] && refuse "$at is a symlink; haul never writes a secret through one"
	if [ ! -e "$at" ]; then mkdir -m 755 "$at" || exit 5; fi
	[ -d "$at" ] || refuse "$at is not a directory"
done
target=$at/$rest
[ -L "$target" ] && refuse "$target is a symlink; haul writes a secret only as a plain file (remove the link)"
if [ -e "$target" ] && [ ! -f "$target" ]; then refuse "$target is not a plain file"; fi
app=$PWD t=$at/.haul-secret.$$
cd -P "$at" || exit 5
atp=$PWD
cd "$app" || exit 5
# What a killed run left: its private directory (which may hold a copy of a
# value; only one of this user's), and the temporary file of a haul that
# wrote beside the file.
for o in "$at"/.haul-secret.*; do
  case ${o##*/.haul-secret.} in '' | *[!0-9]*) continue ;; esac
  if [ -d "$o" ] && [ ! -L "$o" ]; then
    if [ -O "$o" ]; then rm -rf "$o" || exit 5; fi
  elif [ -e "$o" ] || [ -L "$o" ]; then rm -f "$o" || exit 5; fi
done
rm -f "$at/.$rest.haul-secret" || exit 5
# The value is written only inside a directory this script has just made
# (under `umask 077`: 0700; `mkdir` makes a new one or fails, never through
# a link), from within it, once it is seen to be that directory: reached by
# no link, this user's, empty but for what this script wrote ($1).
mine() {
  if [ -n "${1-}" ]; then held=true; [ -f v ] && [ ! -L v ] || held=false; else held=true; [ ! -e v ] && [ ! -L v ] || held=false; fi
  if [ "$PWD" != "$atp/.haul-secret.$$" ] || [ ! -O . ] || ! $held; then
    echo "$t was replaced by someone while this script wrote the secret file into it; $target was left as it was" >&2
    exit 5
  fi
}
mkdir "$t" || exit 5
trap 'rm -rf "$app/$t"' EXIT
trap 'exit 5' HUP INT TERM PIPE
cd -P "$t" || exit 5
mine
( set -C; cat > v ) || exit 5
got=$(wc -c < v) || exit 5
got=${got##* } # some wc pad the count with blanks
[ "$got" = "$size" ] || { printf '%s\n' "$target: $got of $size bytes arrived; the file was left as it was" >&2; exit 4; }
if [ -n "$owner" ]; then chown "$owner" v || exit 5; fi
chmod "$mode" v || exit 5
# The rename under the guard, only while the token holds the lock, from
# within the private directory, seen again to be it. Signals are ignored
# from here: the guard is not left to a minute's wait by an interrupt, and
# the private directory goes with the exit either way. Never into a
# directory someone made at the file's name (`-T`, or only while it is
# none).
trap '' HUP INT TERM PIPE
cd "$app/.haul" || exit 5
guard_ready
trap 'rm -f "$app/.haul/lock.guard.$$"; rm -rf "$app/$t"' EXIT
guard_take || exit
trap 'rm -f "$app/.haul/lock.guard" "$app/.haul/lock.guard.$$"; rm -rf "$app/$t"' EXIT
held_by "$token" || lost
cd -P "$app/$t" || exit 5
mine v
mv -Tf v "$app/$target" 2>/dev/null || { [ ! -d "$app/$target" ] && mv -f v "$app/$target"; } || exit 5
cd "$app" || exit 5
unguard
rmdir "$t" 2>/dev/null || :
