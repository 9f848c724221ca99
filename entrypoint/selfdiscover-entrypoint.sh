#!/bin/sh
# selfdiscover-entrypoint.sh: for images whose start-up is a shell script.
#
#   COPY selfdiscover-entrypoint.sh /usr/local/bin/
#   ENTRYPOINT ["/usr/local/bin/selfdiscover-entrypoint.sh"]
#   CMD ["my-app", "--flag"]
#
# Discovers the task once, writes the variables in the POSIX-shell dialect,
# sources them (so later lines of a script like this one can use
# $ECS_TASK_FAMILY, e.g. to template a config file), then execs CMD: same PID,
# signals go straight to the app. The shell dialect single-quotes every value,
# so nothing the agent sends can run as a command here.
#
# Failure policy and exit codes are selfdiscover's (SELFDISCOVER_POLICY,
# default auto): when discovery fails closed this script exits with its code.
set -eu

dir="${SELFDISCOVER_SHELL_DIR:-/run/selfdiscover}"
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    dir="${TMPDIR:-/tmp}/selfdiscover"   # read-only root filesystem
    mkdir -p "$dir"
fi
file="$dir/ecs.sh"

rc=0
selfdiscover write --env-file "shell:$file" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

if [ -f "$file" ]; then
    . "$file"   # export NAME='value' lines
fi

# ... add your own shell steps here, with the ECS_* variables set ...

[ "$#" -gt 0 ] || { echo "selfdiscover-entrypoint.sh: no command given" >&2; exit 2; }
exec "$@"
