#!/bin/sh
# The entrypoint of wharf-postgres:15-bookworm, in the manner of the Docker
# official image's: on first start it initialises $PGDATA (initdb, the user
# and database from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, listen
# on all addresses, password auth for other hosts), then runs postgres in
# the foreground as the postgres user. exec throughout: postgres ends up as
# the container's init and gets stop's signal itself.
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

# `docker run IMAGE -c x=y` means postgres flags; anything else is run as is.
if [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    # A fresh volume may be owned by root: hand it to postgres, then drop
    # to it (setpriv execs, it does not stay as a parent).
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        host_auth=scram-sha-256
    else
        host_auth=trust
        echo "docker-entrypoint.sh: POSTGRES_PASSWORD is not set: other hosts connect WITHOUT a password (trust)" >&2
    fi
    echo "docker-entrypoint.sh: initialising $PGDATA (user $user, database $db)" >&2
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$host_auth" \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    # Containers reach it over their network, from addresses not known
    # ahead: any host, with the password.
    echo "host all all all $host_auth" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        # Listening on the socket only: nothing outside sees it half made
        # (the healthcheck probes TCP).
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -q \
            -c "CREATE DATABASE \"$db\""
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "docker-entrypoint.sh: $PGDATA is ready" >&2
fi

exec "$@"
