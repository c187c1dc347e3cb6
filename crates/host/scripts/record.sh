# shellcheck shell=sh
# Appends the line $2 to the history of the app at $1.
mkdir -p "$1/.haul" && printf '%s\n' "$2" >> "$1/.haul/history"
