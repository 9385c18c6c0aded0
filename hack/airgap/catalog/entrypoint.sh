#!/bin/sh
# Start PostgreSQL for the job's Iceberg catalog. On the first start (an empty data volume) make
# the cluster: POSTGRES_USER (default fruits) as its superuser with POSTGRES_PASSWORD, and the
# database POSTGRES_DB (default fruits). Every connection over TCP needs that password
# (scram-sha-256); the unix socket lives in /tmp, as the root filesystem is read-only.
#
# env: POSTGRES_PASSWORD (required), POSTGRES_USER, POSTGRES_DB, POSTGRES_PORT (default 5432), PGDATA
set -eu

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set: the chart takes it from its catalog Secret}"
user=${POSTGRES_USER:-fruits}
db=${POSTGRES_DB:-fruits}
port=${POSTGRES_PORT:-5432}
PGDATA="${PGDATA:-/var/lib/postgresql/data/pgdata}"
export PGDATA

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo ">> initdb $PGDATA (superuser $user, database $db)"
    pwfile=$(mktemp "${TMPDIR:-/tmp}/pw.XXXXXX")
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C >/dev/null
    rm -f "$pwfile"
    trap - EXIT
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -D "$PGDATA" -c unix_socket_directories=/tmp postgres >/dev/null
    fi
fi

echo ">> postgres on port $port"
exec postgres -D "$PGDATA" -c listen_addresses='*' -c port="$port" -c unix_socket_directories=/tmp
