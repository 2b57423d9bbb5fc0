#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft), assembled from Maven Central jars and run with java.
#   kafka.sh install | start | stop | status | reset
# Jars are cached in $CSMS_CACHE/kafka/<version>/libs (outside the repo, survives fresh clones);
# broker data lives in $CSMS_CACHE/kafka/<version>/data. Idempotent: start twice, stop twice are fine.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"

HOME_DIR="$CSMS_CACHE/kafka/$CSMS_KAFKA_VERSION"
LIBS="$HOME_DIR/libs"
DATA="$HOME_DIR/data"
RUN="$HOME_DIR/run"
PIDFILE="$RUN/kafka.pid"
LOG="$RUN/kafka.log"
HOST="${CSMS_KAFKA_BOOTSTRAP%%:*}"
PORT="${CSMS_KAFKA_BOOTSTRAP##*:}"
CONTROLLER_PORT="${CSMS_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
SASL_PORT="${CSMS_KAFKA_SASL_PORT:-$((PORT + 2))}"
PY="${PYTHON:-python3}"

log() { echo "kafka: $*" >&2; }

is_local() { [[ "$HOST" == "127.0.0.1" || "$HOST" == "localhost" ]]; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

our_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

need_tools() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    log "installing Java 17 and Maven (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  fi
}

install() {
  if [[ -f "$LIBS/.complete" ]]; then return 0; fi
  need_tools
  log "fetching Kafka $CSMS_KAFKA_VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -B -q -f "$HERE/kafka/pom.xml" -Dkafka.version="$CSMS_KAFKA_VERSION" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS"
  touch "$LIBS/.complete"
  log "$(ls "$LIBS"/*.jar | wc -l) jars, $(du -sh "$LIBS" | cut -f1)"
}

# $1: the pid just started. Liveness is checked with kill -0 only: until the forked shell has exec'd
# java, its cmdline is still bash's, so our_pid's cmdline check would report a live broker as gone.
wait_ready() {
  local pid="$1" deadline=$((SECONDS + ${2:-90}))
  until port_open "$PORT" && "$PY" "$HERE/kafka_ready.py" "127.0.0.1:$PORT" 2>/dev/null; do
    if (( SECONDS > deadline )); then log "not ready after ${2:-90}s; see $LOG"; tail -20 "$LOG" >&2 || true; return 1; fi
    if ! kill -0 "$pid" 2>/dev/null; then log "broker exited; see $LOG"; tail -30 "$LOG" >&2 || true; return 1; fi
    sleep 1
  done
}

start() {
  if ! is_local; then
    log "CSMS_KAFKA_BOOTSTRAP=$CSMS_KAFKA_BOOTSTRAP is not local: using it, starting nothing"; return 0
  fi
  if our_pid >/dev/null; then log "already running (pid $(our_pid)) on 127.0.0.1:$PORT"; return 0; fi
  if port_open "$PORT"; then
    log "port $PORT is in use by something that is not ours: using it as the broker"; return 0
  fi
  install
  mkdir -p "$DATA" "$RUN"
  sed -e "s#@DATA@#$DATA#" -e "s#@PORT@#$PORT#" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#" -e "s#@SASL_PORT@#$SASL_PORT#" \
    "$HERE/kafka/server.properties.in" > "$RUN/server.properties"
  local log4j="-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties"
  if [[ ! -f "$DATA/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("$PY" -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=").replace("-","A"))')"
    java -Xmx256m "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$RUN/server.properties" >/dev/null
  fi
  log "starting on 127.0.0.1:$PORT (log: $LOG)"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "$log4j" -Dkafka.logs.dir="$RUN" \
    -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" > "$LOG" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$PIDFILE"
  local t0=$SECONDS
  wait_ready "$pid" 90
  log "ready in $((SECONDS - t0))s"
}

stop() {
  local pid
  if ! pid="$(our_pid)"; then log "not running"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "no exit after 30s, killing"; kill -KILL "$pid"; fi
  rm -f "$PIDFILE"
  log "stopped"
}

status() {
  if our_pid >/dev/null; then log "running (pid $(our_pid)) on 127.0.0.1:$PORT"; return 0; fi
  if ! is_local && "$PY" "$HERE/kafka_ready.py" "$CSMS_KAFKA_BOOTSTRAP" 2>/dev/null; then
    log "external broker $CSMS_KAFKA_BOOTSTRAP reachable"; return 0
  fi
  log "not running"; return 3
}

reset() { stop; rm -rf "$DATA" "$RUN"; log "data wiped"; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) reset ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
