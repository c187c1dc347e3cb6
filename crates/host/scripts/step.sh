# shellcheck shell=sh
# The start of a person's step or command; its own text follows this file.
# Goes to the directory $1 (when it is missing: fails when $2 is `fail`,
# goes home when it is `home`) with each further `NAME=VALUE` argument
# exported, and leaves no arguments and none of its own variables behind.
haul_dir=$1 haul_missing=$2
shift 2
for haul_var in "$@"; do
  export "${haul_var?}"
done
set --
if [ "$haul_missing" = home ]; then
  # The command runs wherever it can, as a login would.
  # shellcheck disable=SC2164
  cd "$haul_dir" 2>/dev/null || cd
else
  cd "$haul_dir" || exit 1
fi
unset haul_dir haul_missing haul_var
