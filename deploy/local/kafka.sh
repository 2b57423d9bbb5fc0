#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft), assembled from Maven Central jars and run with java.
#   kafka.sh install | start | stop | status | reset
# Jars are cached in $CSMS_CACHE/kafka/<version>/libs (outside the repo, survives fresh clones);
# broker data lives in $CSMS_CACHE/kafka/<version>/data. Idempotent: start twice, stop twice are fine.
#
# `--nodes 3` (or CSMS_KAFKA_NODES=3) is a separate 3-node KRaft cluster for fault tests, with ports
# (client 19092/19192/19292, controller +1), data and pid files of its own under
# $CSMS_CACHE/kafka/<version>/cluster3/nodeN: it never touches the single broker above.
#   kafka.sh start|stop|status|reset --nodes 3   start also (re)starts any node that is not running
#   kafka.sh kill --nodes 3 --node N             SIGKILL node N (fault tests); start brings it back
# Clients bootstrap with 127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292 (`kafka.sh bootstrap --nodes 3`).
set -euo pipefail
ACTION="${1:-}"; shift || true
NODES="${CSMS_KAFKA_NODES:-1}"; NODE=""
while (( $# )); do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --node) NODE="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
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

# -- the 3-node cluster (fault tests) -------------------------------------------------------------
CLUSTER="$HOME_DIR/cluster$NODES"
CLUSTER_BASE_PORT="${CSMS_KAFKA_CLUSTER_PORT:-19092}"
node_port() { echo $((CLUSTER_BASE_PORT + 100 * ($1 - 1))); }
node_dir() { echo "$CLUSTER/node$1"; }
node_pid() {
  local f; f="$(node_dir "$1")/kafka.pid"
  [[ -f "$f" ]] || return 1
  local pid; pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}
cluster_bootstrap() {
  local i out=""
  for i in $(seq 1 "$NODES"); do out="${out:+$out,}127.0.0.1:$(node_port "$i")"; done
  echo "$out"
}

cluster_start() {
  install
  local i voters="" started=() t0=$SECONDS log4j="-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties"
  for i in $(seq 1 "$NODES"); do voters="${voters:+$voters,}$i@127.0.0.1:$(( $(node_port "$i") + 1 ))"; done
  local cluster_id=""
  [[ -f "$CLUSTER/cluster.id" ]] && cluster_id="$(cat "$CLUSTER/cluster.id")"
  if [[ -z "$cluster_id" ]]; then
    mkdir -p "$CLUSTER"
    cluster_id="$("$PY" -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=").replace("-","A"))')"
    echo "$cluster_id" > "$CLUSTER/cluster.id"
  fi
  for i in $(seq 1 "$NODES"); do
    local dir port; dir="$(node_dir "$i")"; port="$(node_port "$i")"
    if node_pid "$i" >/dev/null; then continue; fi
    if port_open "$port"; then log "port $port is in use by something that is not node $i"; return 1; fi
    mkdir -p "$dir/data"
    sed -e "s#@DATA@#$dir/data#" -e "s#@PORT@#$port#" -e "s#@CONTROLLER_PORT@#$((port + 1))#" \
      -e "s#@NODE@#$i#" -e "s#@VOTERS@#$voters#" "$HERE/kafka/cluster.properties.in" > "$dir/server.properties"
    # Formatted once; a node that comes back after a crash keeps its data (never re-formatted).
    if [[ ! -f "$dir/data/meta.properties" ]]; then
      java -Xmx128m "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$dir/server.properties" >/dev/null
    fi
    log "starting node $i on 127.0.0.1:$port (log: $dir/kafka.log)"
    nohup java -Xms128m -Xmx384m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 \
      -XX:CICompilerCount=1 -XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 \
      -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "$log4j" -Dkafka.logs.dir="$dir" \
      -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" > "$dir/kafka.log" 2>&1 < /dev/null &
    echo $! > "$dir/kafka.pid"
    started+=("$i")
  done
  (( ${#started[@]} )) || { log "cluster of $NODES already running ($(cluster_bootstrap))"; return 0; }
  # Ready when every node is registered: a lone first node waits for a quorum of voters.
  local deadline=$((SECONDS + 120))
  until "$PY" "$HERE/kafka_ready.py" "$(cluster_bootstrap)" "$NODES" 2>/dev/null; do
    if (( SECONDS > deadline )); then log "cluster not ready after 120s; see $CLUSTER/node*/kafka.log"; return 1; fi
    for i in "${started[@]}"; do
      if ! kill -0 "$(cat "$(node_dir "$i")/kafka.pid")" 2>/dev/null; then
        log "node $i exited; see $(node_dir "$i")/kafka.log"; tail -30 "$(node_dir "$i")/kafka.log" >&2 || true; return 1
      fi
    done
    sleep 1
  done
  log "cluster ready in $((SECONDS - t0))s: $(cluster_bootstrap)"
}

cluster_stop() {
  local i pid
  for i in $(seq 1 "$NODES"); do
    if pid="$(node_pid "$i")"; then kill -TERM "$pid"; fi
  done
  for i in $(seq 1 "$NODES"); do
    for _ in $(seq 1 60); do node_pid "$i" >/dev/null || break; sleep 0.5; done
    if pid="$(node_pid "$i")"; then log "node $i: no exit after 30s, killing"; kill -KILL "$pid"; fi
    rm -f "$(node_dir "$i")/kafka.pid"
  done
  log "cluster stopped"
}

cluster_kill() {
  [[ -n "$NODE" ]] || { echo "kill needs --node N" >&2; exit 2; }
  local pid
  if pid="$(node_pid "$NODE")"; then kill -KILL "$pid"; log "node $NODE (pid $pid) killed"; else log "node $NODE not running"; fi
}

cluster_status() {
  local i up=0
  for i in $(seq 1 "$NODES"); do
    if node_pid "$i" >/dev/null; then up=$((up + 1)); log "node $i running (pid $(node_pid "$i")) on 127.0.0.1:$(node_port "$i")"
    else log "node $i not running"; fi
  done
  (( up == NODES )) || return 3
}

if [[ "$NODES" != 1 ]]; then
  [[ "$NODES" == 3 ]] || { echo "--nodes is 1 or 3" >&2; exit 2; }
  case "$ACTION" in
    install) install ;;
    start) cluster_start ;;
    stop) cluster_stop ;;
    status) cluster_status ;;
    kill) cluster_kill ;;
    bootstrap) cluster_bootstrap ;;
    reset) cluster_stop; rm -rf "$CLUSTER"; log "cluster data wiped" ;;
    *) echo "usage: $0 install|start|stop|status|kill|bootstrap|reset --nodes 3 [--node N]" >&2; exit 2 ;;
  esac
  exit 0
fi

case "$ACTION" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) reset ;;
  *) echo "usage: $0 install|start|stop|status|reset [--nodes 3]" >&2; exit 2 ;;
esac
