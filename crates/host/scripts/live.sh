# shellcheck shell=sh
# Defines `live`: prints where `current` (in the current directory) points,
# with `readlink` where there is one, else what POSIX `ls -ld` shows after
# the arrow. Composed before the scripts that call it.
# `ls` is the fallback where there is no `readlink`; a link has one target.
# shellcheck disable=SC2012
live() { readlink current 2>/dev/null || { [ -L current ] && ls -ld current | sed 's/.* -> //'; }; }
