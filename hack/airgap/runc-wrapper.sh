#!/bin/sh
# OCI runtime wrapper for dockerd on hosts whose capability bounding set lacks CAP_SYS_RESOURCE
# (some VMs): dockerd asks for every capability for `docker run --privileged` and `docker exec
# --privileged`, runc then fails with "unable to apply caps". kind runs every node privileged.
# This drops that one capability from the container's and the exec'd process's spec and hands
# over to runc. A spec without it is passed through unchanged. Installed by docker-privileged.sh.
RUNC=${FRUITS_REAL_RUNC:-/usr/sbin/runc}
drop='(.. | objects | select(has("bounding") or has("effective")) | .[]?) |= (if type == "array" then map(select(. != "CAP_SYS_RESOURCE")) else . end)'
prev=
for arg in "$@"; do
    case "$prev" in
        --bundle|-b) f="$arg/config.json" ;;
        --process|-p) f="$arg" ;;
        *) f= ;;
    esac
    case "$arg" in
        --bundle=*) f="${arg#--bundle=}/config.json" ;;
        --process=*) f="${arg#--process=}" ;;
    esac
    if [ -n "$f" ] && [ -f "$f" ] && grep -q CAP_SYS_RESOURCE "$f"; then
        jq -c "$drop" "$f" >"$f.tmp" && mv "$f.tmp" "$f"
    fi
    prev=$arg
done
exec "$RUNC" "$@"
