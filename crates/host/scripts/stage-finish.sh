# shellcheck shell=sh
# Moves the stage directory of release $2 of the app at $1 into place, once
# rsync has filled it.
cd "$1" && mv "releases/.stage-$2" "releases/$2"
