# shellcheck shell=sh
# After live.sh, lock.sh and guard.sh, before switch.sh and switch-unlock.sh:
# a switch that is all a run does on this host, in one round trip. Takes the
# lock of the app at $1 for the holder line $2 and prints `acquired` (else
# `held` and the holder's line, and stops). Then, under the lock:
#   @unchanged        the complete release $3 is live already;
#   @refused WHY      nothing moved: nothing is live, `current` is not a
#                     release, it is not $4 (when $4 is given) or $3 is not
#                     complete here;
#   @from ID          ID was live: switch.sh switches to $3 and records the
#                     history line $5"from":"ID",$6, and switch-unlock.sh
#                     releases the lock held by token $7 (their exits apply).
# After @unchanged and @refused the lock is released too; exit 7 when it
# could not be (nothing moved; the caller releases it as usual).
got=$(take_lock "$1" "$2") || exit
printf '%s\n' "$got"
[ "$got" = acquired ] || exit 0
dir=$1 token=$7
release_lock() { ( cd "$dir/.haul" && guard && if held_by "$token"; then unguard lock; fi ) || exit 7; }
refuse() { echo "@refused $*"; release_lock; exit 0; }
from=$(cd "$1" 2>/dev/null && live)
from=${from#releases/}
case $from in
  '') refuse "nothing is live" ;;
  [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*) refuse "current does not point to a release" ;;
esac
if [ "$from" = "$3" ]; then echo @unchanged; release_lock; exit 0; fi
if [ -n "$4" ] && [ "$from" != "$4" ]; then refuse "$from is live, not $4"; fi
if [ ! -d "$1/releases/$3" ] || [ ! -f "$1/releases/$3.manifest" ]; then refuse "release $3 is not complete on this host"; fi
echo "@from $from"
set -- "$1" "$3" "$5\"from\":\"$from\",$6" "$7"
