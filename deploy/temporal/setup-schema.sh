#!/bin/sh
# goalflow deploy: one-shot job that creates and migrates Temporal's PostgreSQL schema.
#
# Runs in the temporalio/admin-tools image (temporal-sql-tool and the versioned schema files
# ship there, so the tool version always matches the server version pinned beside it).
# Safe to run on every `docker compose up`:
#   - `create` ignores a database that already exists,
#   - `setup-schema -v 0.0` only creates the version tables and never lowers a recorded version,
#   - `update-schema` applies only the versioned steps newer than the recorded version.
# Upgrading Temporal = bumping the server and admin-tools tags together; this job then migrates.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the PostgreSQL host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD (read by temporal-sql-tool) is required}"
DB_PORT="${DB_PORT:-5432}"
SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
SCHEMA_ROOT="${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
ATTEMPTS="${SETUP_MAX_ATTEMPTS:-30}"
PAUSE="${SETUP_SLEEP_SECONDS:-2}"

log() { echo "[goalflow-schema] $*"; }

sql_tool() {
    db=$1
    shift
    temporal-sql-tool --plugin "$SQL_PLUGIN" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" --db "$db" "$@"
}

# The database may accept TCP before it accepts logins: retry the first, harmless command.
create_database() {
    n=1
    until sql_tool "$1" create; do
        if [ "$n" -ge "$ATTEMPTS" ]; then
            log "could not create database $1 after $ATTEMPTS attempts"
            return 1
        fi
        n=$((n + 1))
        sleep "$PAUSE"
    done
}

migrate() {
    db=$1
    versioned_dir=$2
    log "database $db: create, set up, migrate ($versioned_dir)"
    create_database "$db"
    sql_tool "$db" setup-schema -v 0.0
    sql_tool "$db" update-schema -d "$versioned_dir"
}

migrate "$DBNAME" "$SCHEMA_ROOT/temporal/versioned"
migrate "$VISIBILITY_DBNAME" "$SCHEMA_ROOT/visibility/versioned"
log "schema is up to date"
