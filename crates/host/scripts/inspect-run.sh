# shellcheck shell=sh
# After live.sh and inspect.sh: prints what is on this host for the app at $1.
inspect_app "$1"
