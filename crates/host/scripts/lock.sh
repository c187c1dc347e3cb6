# shellcheck shell=sh
# take_lock DIR LINE: takes the lock of the app at DIR for the holder whose
# JSON line is LINE, by hard link: prints `acquired`, or `held` and the
# holder's line. A lock that vanished between the failed link and the read
# is tried again. Runs in a subshell: the caller's directory is its own.
take_lock() (
  { [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
  t=lock.new.$$
  printf '%s\n' "$2" > "$t" || { rm -f "$t"; exit 5; }
  n=0
  while :; do
    if err=$(ln "$t" lock 2>&1); then rm -f "$t"; echo acquired; exit 0; fi
    if held=$(cat lock 2>/dev/null); then rm -f "$t"; echo held; printf '%s\n' "$held"; exit 0; fi
    n=$((n+1))
    [ $n -lt 200 ] || { rm -f "$t"; echo "cannot take the lock: $err" >&2; exit 6; }
  done
)
