# shellcheck shell=sh
# After put.sh. Functions of the scripts that remove releases (prune.sh, remove.sh), run
# in the app's directory. The decision and the change every other script
# sees are made under the lock's guard; deleting the files, which takes as
# long as the release is large, after it, so that nobody waits on the guard
# (a `haul unlock` gives up after a minute):
#   aside ID   takes release ID out: its tree renamed to a hidden
#              `releases/.gone-ID.PID`, which no listing of releases shows
#              (never into a directory someone placed at that name:
#              `put`, from put.sh), then its manifest removed
#   sweep      after the guard: deletes every tree set aside, this script's
#              and any a removal stopped before its delete left; a failure
#              is only reported (the releases are gone either way)
aside() {
  if [ -e "releases/$1" ] || [ -L "releases/$1" ]; then
    put "releases/$1" "releases/.gone-$1.$$" || { echo "release $1 could not be set aside (releases/.gone-$1.$$ is in the way); not removed" >&2; return 1; }
  fi
  rm -f "releases/$1.manifest"
}
sweep() {
  for g in releases/.gone-*; do
    if [ -e "$g" ] || [ -L "$g" ]; then rm -rf "$g" || echo "$g, set aside to be deleted (a removed release, or what a run staging here left), could not all be deleted" >&2; fi
  done
}
