# shellcheck shell=sh
# After guard.sh, live.sh, put.sh and staging.sh. Marks the staged release $2 of the
# app at $1 complete for the run whose lock token is $3 (its stage names end
# in $4): its record moves beside it, only while the token holds the lock
# (exit 9), so a run that lost its lock never marks complete a tree another
# run is still making.
cd "$1" || exit
under_lock "$3" "release $2 not marked complete" mark_complete "$2" "$4"
