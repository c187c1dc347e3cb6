# shellcheck shell=sh
# Defines `each_leftover FN`: runs `FN NAME`, while FN succeeds, for each
# name in releases/ (of the app in the current directory) that runs staging
# or removing releases left under names of their own, stopped or stale
# once their lock was taken: stage names (`.stage-*`, `.incoming-*`,
# `.record-*`), what was set aside to be deleted (`.gone-*`) and a record
# half-written beside its release (`ID.manifest.tmp`, a file: a directory
# of that name may be a release an older haul let be named so). The one
# list of them, for inspect.sh (which tells that a prune is due) and
# prune.sh (which deletes them).
each_leftover() {
  for eo in releases/.stage-* releases/.incoming-* releases/.record-* releases/.gone-* releases/*.manifest.tmp; do
    case $eo in *.manifest.tmp) if [ -d "$eo" ] && [ ! -L "$eo" ]; then continue; fi ;; esac
    if [ -e "$eo" ] || [ -L "$eo" ]; then "$1" "$eo" || return; fi
  done
}
