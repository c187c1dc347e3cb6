# shellcheck shell=sh
# Prints the record of release $2 of the app at $1.
cat "$1/releases/$2.manifest"
