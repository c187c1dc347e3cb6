# shellcheck shell=sh
# After tools.sh. What `haul check --hosts` learns beyond the tools: whether
# the deploy root $1 is writable (made if missing), the free space under it
# in KiB, and then, for pairs of words (an app and its directory), the lock
# each app holds there.
mkdir -p "$1" 2>/dev/null
if [ -d "$1" ] && [ -w "$1" ]; then echo "writable yes"; else echo "writable no"; fi
echo "free $(df -Pk "$1" 2>/dev/null | awk 'NR==2 {print $4}')"
shift
while [ $# -gt 0 ]; do
  [ -f "$2/.haul/lock" ] && echo "lock $1 $(cat "$2/.haul/lock")"
  shift 2
done
exit 0
