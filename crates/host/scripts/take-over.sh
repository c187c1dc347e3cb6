# shellcheck shell=sh
# After guard.sh. Replaces the lock of the app at $1 with the holder line $2
# while it is still held by the dead token $3, recording the history line $4;
# takes a lock that was cleared meanwhile by link. Prints `acquired`, or
# `held` and the lock of whoever took it in the meantime.
cd "$1/.haul" || exit 3
guard
t=lock.new.$$
printf '%s\n' "$2" > "$t" || { rm -f "$t"; exit 5; }
if held_by "$3"; then
  mv -f "$t" lock || { rm -f "$t"; exit 5; }
  printf '%s\n' "$4" >> history
  echo acquired
elif ln "$t" lock 2>/dev/null; then
  rm -f "$t"; echo acquired
else
  rm -f "$t"; echo held; cat lock
fi
