#!/usr/bin/env bash
# Start / stop / status of the local Redis and PostgreSQL used by paysync without Docker.
#
#   scripts/services.sh start|stop|status|env
#
# Ports, paths and names come from the environment (defaults in brackets):
#   PAYSYNC_REDIS_PORT [63790]   PAYSYNC_PG_PORT [54329]
#   PAYSYNC_STATE_DIR  [<repo>/.local]  PAYSYNC_PG_DB [paysync]
# Running it twice is harmless: a service already answering is left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REDIS_PORT="${PAYSYNC_REDIS_PORT:-63790}"
PG_PORT="${PAYSYNC_PG_PORT:-54329}"
STATE_DIR="${PAYSYNC_STATE_DIR:-$here/.local}"
PG_DB="${PAYSYNC_PG_DB:-paysync}"
PG_USER="paysync"
PG_PASSWORD="paysync"
REDIS_DIR="$STATE_DIR/redis-$REDIS_PORT"
PG_DIR="$STATE_DIR/pg-$PG_PORT"

log() { printf 'services: %s\n' "$*" >&2; }

need_root_install() {
  # apt-get only when the binary is missing; CI and fresh machines run as root.
  local pkg="$1"
  if [ "$(id -u)" != 0 ]; then
    log "$pkg is missing and we are not root: install it with 'apt-get install -y $pkg'"; exit 1
  fi
  log "installing $pkg"
  if ! apt-get install -y -qq "$pkg" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq "$pkg" >/dev/null
  fi
}

pg_bindir() {
  local ctl
  ctl="$(dpkg -L postgresql-15 2>/dev/null | grep 'bin/pg_ctl$' | head -n1 || true)"
  [ -z "$ctl" ] && ctl="$(command -v pg_ctl || true)"
  if [ -z "$ctl" ]; then need_root_install postgresql-15; ctl="$(dpkg -L postgresql-15 | grep 'bin/pg_ctl$' | head -n1)"; fi
  dirname "$ctl"
}

# Run a command as the postgres user when we are root (PostgreSQL refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; }

start_redis() {
  command -v redis-server >/dev/null || need_root_install redis-server
  if redis_up; then log "redis already answering on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --save "" >/dev/null
  for _ in $(seq 1 100); do redis_up && break; sleep 0.1; done
  redis_up || { log "redis did not start, see $REDIS_DIR/redis.log"; exit 1; }
  log "redis on 127.0.0.1:$REDIS_PORT"
}

pg_up() { as_pg "$(pg_bindir)/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q >/dev/null 2>&1; }

start_pg() {
  local bin; bin="$(pg_bindir)"
  if ! pg_up; then
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
      chown -R postgres:postgres "$PG_DIR"
      # postgres must be able to reach the folder; fall back to /tmp when a parent is closed.
      if ! setpriv --reuid=postgres --regid=postgres --init-groups -- test -w "$PG_DIR"; then
        PG_DIR="/tmp/paysync-pg-$PG_PORT"; mkdir -p "$PG_DIR"; chown -R postgres:postgres "$PG_DIR"
        log "state folder not reachable by postgres, using $PG_DIR"
      fi
    fi
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
    fi
    # fsync off: a local development/test cluster, not production.
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start \
      -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
    log "postgres on 127.0.0.1:$PG_PORT ($PG_DIR)"
  else
    log "postgres already answering on 127.0.0.1:$PG_PORT"
  fi
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qtA -v ON_ERROR_STOP=1)
  if [ "$("${psql[@]}" -c "select 1 from pg_roles where rolname='$PG_USER'")" != 1 ]; then
    "${psql[@]}" -c "create role $PG_USER login superuser password '$PG_PASSWORD'" >/dev/null
  fi
  if [ "$("${psql[@]}" -c "select 1 from pg_database where datname='$PG_DB'")" != 1 ]; then
    "${psql[@]}" -c "create database $PG_DB owner $PG_USER" >/dev/null
  fi
}

stop_redis() {
  if redis_up; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; log "redis stopped"; fi
}

stop_pg() {
  local bin; bin="$(pg_bindir)"
  for d in "$PG_DIR" "/tmp/paysync-pg-$PG_PORT"; do
    if [ -f "$d/data/postmaster.pid" ]; then
      as_pg "$bin/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null 2>&1 || true
      log "postgres stopped"
    fi
  done
}

print_env() {
  echo "export DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

case "${1:-start}" in
  start) start_redis; start_pg ;;
  stop) stop_redis; stop_pg ;;
  status) redis_up && echo "redis: up ($REDIS_PORT)" || echo "redis: down"; pg_up && echo "postgres: up ($PG_PORT)" || echo "postgres: down" ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
