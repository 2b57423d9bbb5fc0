#!/usr/bin/env bash
# A real PostgreSQL server from Debian's package, private to this project.
#   postgres.sh install | start | stop | status | reset
# When CSMS_DATABASE_URL points at a reachable server that is not ours, it is used and nothing starts.
# As root the cluster runs as the `postgres` OS user in /var/lib/csms/postgres (the server refuses to
# run as root); as a normal user it runs as that user in $CSMS_CACHE/postgres. It listens on
# 127.0.0.1:$CSMS_PG_PORT only and has role csms/csms with databases csms and csms_test.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"

if [[ $EUID -eq 0 ]]; then BASE=/var/lib/csms/postgres; RUNAS=(runuser -u postgres --); else BASE="$CSMS_CACHE/postgres"; RUNAS=(); fi
DATA="$BASE/data"
SOCK="$BASE/run"
LOG="$BASE/postgres.log"
PORT="$CSMS_PG_PORT"

log() { echo "postgres: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install() {
  if [[ -n "$(bindir)" && -x "$(bindir)/postgres" ]]; then return 0; fi
  log "installing PostgreSQL (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Debian starts a cluster of its own on 5432 where it can; ours must not compete with it.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
}

ours_running() { [[ -f "$DATA/postmaster.pid" ]] && "${RUNAS[@]}" "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

url_reachable() { command -v psql >/dev/null && psql "$CSMS_DATABASE_URL" -qtAc 'select 1' >/dev/null 2>&1; }

sql() { "${RUNAS[@]}" psql -h "$SOCK" -p "$PORT" -U postgres -qtAX -v ON_ERROR_STOP=1 "$@"; }

start() {
  if [[ "$CSMS_DATABASE_URL" != *"@127.0.0.1:$PORT/"* && "$CSMS_DATABASE_URL" != *"@localhost:$PORT/"* ]]; then
    if url_reachable; then log "using $CSMS_DATABASE_URL, starting nothing"; return 0; fi
    log "CSMS_DATABASE_URL=$CSMS_DATABASE_URL is not reachable"; return 1
  fi
  install
  if ours_running; then log "already running on 127.0.0.1:$PORT"; return 0; fi
  if port_open "$PORT"; then
    if url_reachable; then log "a server not started by us answers on $PORT with the csms role: using it"; return 0; fi
    log "port $PORT is taken by another server; set CSMS_PG_PORT (and CSMS_DATABASE_URL) to a free port"
    return 1
  fi
  mkdir -p "$DATA" "$SOCK"
  if [[ $EUID -eq 0 ]]; then chown -R postgres:postgres "$BASE"; chmod 700 "$BASE" "$SOCK"; fi
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initdb in $DATA"
    "${RUNAS[@]}" "$(bindir)/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  local t0=$SECONDS
  "${RUNAS[@]}" "$(bindir)/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$SOCK -c fsync=on -c max_connections=200" \
    start >/dev/null
  sql -d postgres -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='csms') THEN CREATE ROLE csms LOGIN PASSWORD 'csms' CREATEDB; END IF; END\$\$;"
  for db in csms csms_test; do
    if [[ -z "$(sql -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$db'")" ]]; then
      sql -d postgres -c "CREATE DATABASE $db OWNER csms"
    fi
  done
  log "ready on 127.0.0.1:$PORT in $((SECONDS - t0))s (log: $LOG)"
}

stop() {
  if [[ -z "$(bindir)" ]] || ! ours_running; then log "not running"; return 0; fi
  "${RUNAS[@]}" "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  log "stopped"
}

status() {
  if [[ -n "$(bindir)" ]] && ours_running; then log "running on 127.0.0.1:$PORT ($DATA)"; return 0; fi
  if url_reachable; then log "$CSMS_DATABASE_URL reachable"; return 0; fi
  log "not running"; return 3
}

reset() { stop; rm -rf "$BASE"; log "data wiped"; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) reset ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
