# shellcheck shell=sh
# After guard.sh, live.sh, put.sh and staging.sh. Moves the stage directory of
# release $2 of the app at $1, which rsync has filled, into place for the
# run whose lock token is $3 (its stage names end in $4), only while that
# token holds the lock (exit 9); when $5 is `complete`, then marks it
# complete (as complete.sh does). Never into a directory of that name that
# appeared meanwhile (exit 8).
cd "$1" || exit
under_lock "$3" "release $2 not moved into place" move_in "$2" "$4" "$5"
