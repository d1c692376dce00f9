#!/usr/bin/env bash
# Real single-node Apache Kafka 4.x (KRaft, combined broker+controller) on
# 127.0.0.1 for end-to-end tests. No Docker and no Apache download mirrors
# here, so the broker is assembled from Maven Central jars (scripts/kafka-pom.xml).
#
# Usage:
#   scripts/kafka.sh start | stop | status | restart
#       start is a no-op if the broker already runs with the same settings, and
#       restarts it (data kept) if server.properties or the JVM flags changed.
#   scripts/kafka.sh topics-create NAME PARTITIONS   # idempotent; an existing topic
#       with fewer partitions (e.g. auto-created) is grown, one with more is an error
#   scripts/kafka.sh groups-describe GROUP           # offsets/lag of a consumer group
#   scripts/kafka.sh tool NAME|CLASS [ARGS...]       # any Kafka CLI class on the cached
#       classpath; NAME: topics configs consumer-groups console-producer
#       console-consumer storage. Pass --bootstrap-server yourself, e.g.
#       scripts/kafka.sh tool console-consumer --bootstrap-server 127.0.0.1:19092 \
#           --topic t --from-beginning --max-messages 1
#   scripts/kafka.sh bootstrap                       # prints 127.0.0.1:$KAFKA_PORT
#
# Env knobs (defaults):
#   KAFKA_PORT=19092                 PLAINTEXT client listener
#   KAFKA_CONTROLLER_PORT=PORT+1     KRaft controller listener
#   KAFKA_HEAP="-Xms256m -Xmx768m"
#   KAFKA_DATA_DIR=.cache/kafka/run-$KAFKA_PORT   (per port, so two brokers can coexist)
#   KAFKA_EXTRA_PROPERTIES=          file appended to server.properties on every
#       start. Later keys win (java.util.Properties), so it may redefine
#       listeners / advertised.listeners / listener.security.protocol.map, but it
#       must keep PLAINTEXT://127.0.0.1:$KAFKA_PORT: readiness is probed there.
#   KAFKA_JVM_FLAGS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"   broker GC/JIT; C1-only
#       starts ~20% faster on 2 cores and is plenty for tests. Set to "" for
#       full C2 (throughput benchmarks).
#   KAFKA_OPTS=                      extra broker JVM flags (e.g. -Djava.security.auth.login.config=...)
#   KAFKA_CDS=1                      AppCDS class-data archives for broker and CLI tools
#       (dumped on first clean exit; afterwards broker start ~25% and CLI start ~40% faster); 0 disables.
#   KAFKA_START_TIMEOUT=90  KAFKA_STOP_TIMEOUT=30   seconds
#
# Layout: .cache/kafka/libs-<pom hash>/ jars (fetched once; a pom change refetches)
# and *.jsa CDS archives (keyed on the JVM build; stale ones are just ignored);
# $KAFKA_DATA_DIR/{server.properties,kafka.pid,kafka.out,logs/server.log,kraft-logs/}.
# Data survives stop/restart; delete $KAFKA_DATA_DIR for a fresh cluster.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
CACHE=$ROOT/.cache/kafka
POM=$SCRIPT_DIR/kafka-pom.xml

HOST=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-19092}
[[ $KAFKA_PORT =~ ^[0-9]+$ ]] || { echo "kafka: KAFKA_PORT must be a number, got '$KAFKA_PORT'" >&2; exit 2; }
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
[[ $KAFKA_CONTROLLER_PORT =~ ^[0-9]+$ ]] || { echo "kafka: KAFKA_CONTROLLER_PORT must be a number" >&2; exit 2; }
KAFKA_HEAP=${KAFKA_HEAP:--Xms256m -Xmx768m}
KAFKA_DATA_DIR=${KAFKA_DATA_DIR:-$CACHE/run-$KAFKA_PORT}
KAFKA_EXTRA_PROPERTIES=${KAFKA_EXTRA_PROPERTIES:-}
KAFKA_OPTS=${KAFKA_OPTS:-}
KAFKA_JVM_FLAGS=${KAFKA_JVM_FLAGS--XX:+UseSerialGC -XX:TieredStopAtLevel=1}
KAFKA_CDS=${KAFKA_CDS:-1}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

# Absolute, because the path is also how stop/status recognise the process.
[[ $KAFKA_DATA_DIR == /* ]] || KAFKA_DATA_DIR=$PWD/$KAFKA_DATA_DIR
DATA=$KAFKA_DATA_DIR
PROPS=$DATA/server.properties
PIDFILE=$DATA/kafka.pid
OUT=$DATA/kafka.out
LOGDIR=$DATA/logs
KRAFT_DIR=$DATA/kraft-logs
BOOTSTRAP=$HOST:$KAFKA_PORT

die() { echo "kafka: ERROR: $*" >&2; exit 1; }
log() { echo "kafka: $*" >&2; }

# ---------------------------------------------------------------- jars

# Keyed on the pom's content so bumping kafka.version refetches instead of
# silently running stale jars.
pom_hash() { sha256sum "$POM" | cut -c1-12; }
LIBS=
libs_complete() {
  local dir=$1 jar
  [[ -f $dir/.complete ]] || return 1
  # .complete lists every jar Maven produced; a partially deleted cache is
  # caught here rather than as a ClassNotFoundException later.
  while IFS= read -r jar; do [[ -f $dir/$jar ]] || return 1; done <"$dir/.complete"
}
ensure_libs() {
  [[ -f $POM ]] || die "missing $POM"
  LIBS=$CACHE/libs-$(pom_hash)
  libs_complete "$LIBS" && return 0
  command -v mvn >/dev/null || die "mvn not found; needed once to fetch the Kafka jars from Maven Central"
  command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
  mkdir -p "$CACHE"
  # Two ports started concurrently on a fresh machine must not both download
  # into the same directory.
  exec 8>"$CACHE/.install.lock"
  flock 8
  if ! libs_complete "$LIBS"; then
    log "fetching Kafka jars from Maven Central (once) into $LIBS"
    local tmp mlog=$CACHE/mvn.log
    tmp=$(mktemp -d "$CACHE/.libs-tmp.XXXXXX")
    if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mlog" 2>&1; then
      tail -n 30 "$mlog" >&2
      rm -rf "$tmp"
      die "maven could not fetch the Kafka jars (full log: $mlog)"
    fi
    local want
    for want in 'kafka_2.13-*.jar' 'kafka-tools-[0-9]*.jar' 'kafka-server-[0-9]*.jar' 'log4j-core-*.jar' 'log4j-slf4j-impl-*.jar'; do
      compgen -G "$tmp/$want" >/dev/null || { rm -rf "$tmp"; die "maven output lacks $want; check $POM"; }
    done
    (cd "$tmp" && ls -1 -- *.jar >.complete)
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
  fi
  exec 8>&-
}

# ---------------------------------------------------------------- CDS
# JVM start dominates everything on 2 cores (broker ~4 s, each CLI ~1.1 s).
# A dynamic AppCDS archive (JDK 13+) of the classes a previous run loaded cuts
# that by 25-40%. It is only valid for the exact classpath and JVM build, hence
# the key; a mismatching archive is refused by the JVM with a warning, never
# a crash, and the run proceeds without it.
jvm_key() {
  local j
  j=$(readlink -f "$(command -v java)")
  printf '%s' "$j $(stat -Lc '%s-%Y' "${j%/bin/java}/lib/server/libjvm.so" 2>/dev/null)" | cksum | cut -d' ' -f1
}
# Route JVM warnings (e.g. an unusable archive) to stderr: by default they go
# to stdout and would corrupt tool output that tests parse.
CDS_ARGS=() CDS_NEW=
cds_args() { # NAME FILE-TO-DUMP-TO-IF-MISSING (empty: never dump)
  CDS_ARGS=(-Xshare:auto -Xlog:disable -Xlog:all=warning:stderr)
  CDS_NEW=
  [[ $KAFKA_CDS == 1 ]] || return 0
  local jsa
  jsa=$LIBS/$1-$(jvm_key).jsa
  if [[ -f $jsa ]]; then
    CDS_ARGS+=(-XX:SharedArchiveFile="$jsa")
  elif [[ -n $2 ]]; then
    CDS_NEW=$2
    rm -f "$CDS_NEW"
    # Dumping lists every class it cannot archive (slf4j 1.7 is Java 5
    # bytecode) as a warning: harmless noise.
    CDS_ARGS=(-Xshare:auto -Xlog:disable -Xlog:all=error:stderr -XX:ArchiveClassesAtExit="$CDS_NEW")
  fi
}
# The archive is written at JVM exit, so a killed JVM leaves none or a
# truncated one: only adopt it once a JVM has actually mapped it.
cds_adopt() { # NAME DUMPED-FILE
  local jsa
  jsa=$LIBS/$1-$(jvm_key).jsa
  if [[ -s $2 && ! -f $jsa ]] &&
    java -Xshare:on -XX:SharedArchiveFile="$2" -cp "$LIBS/*" -version >/dev/null 2>&1; then
    mv -f "$2" "$jsa"
  fi
  rm -f "$2"
}

# Log config for the CLI tools: warnings to stderr only, so stdout stays parseable.
tools_log4j() {
  local f=$CACHE/tools-log4j2.properties
  if [[ ! -f $f ]]; then
    mkdir -p "$CACHE"
    cat >"$f.tmp" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}

# Short-lived CLIs: C1 only + serial GC start ~2x faster on 2 cores than the
# JVM defaults, and they never run long enough for C2 to pay off.
run_tool() {
  ensure_libs
  local cls=$1; shift
  case $cls in
    topics) cls=org.apache.kafka.tools.TopicCommand ;;
    configs) cls=kafka.admin.ConfigCommand ;;
    consumer-groups | groups) cls=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    console-producer) cls=org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) cls=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    storage) cls=kafka.tools.StorageTool ;;
  esac
  # The storage formatter loads too few of the shared classes to be worth a
  # dump; any real client tool is.
  local dump=$CACHE/.tools.jsa.$$ rc=0
  [[ $cls == kafka.tools.StorageTool ]] && dump=
  cds_args tools "$dump"
  java "${CDS_ARGS[@]}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xms32m -Xmx256m \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$(tools_log4j)" \
    -cp "$LIBS/*" "$cls" "$@" || rc=$?
  if [[ -n $CDS_NEW ]]; then
    if ((rc == 0)); then cds_adopt tools "$CDS_NEW"; else rm -f "$CDS_NEW"; fi
  fi
  return "$rc"
}

# ---------------------------------------------------------------- process

# A pid is ours only if its command line names this data dir's
# server.properties: guards against pid reuse after a reboot/crash and lets
# stop find a broker whose pidfile was lost.
is_our_pid() {
  local pid=$1 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
  [[ $cmd == *kafka.Kafka\ "$PROPS"* ]]
}
find_pids() {
  local pid f known=
  [[ -f $PIDFILE ]] && known=$(<"$PIDFILE")
  is_our_pid "$known" && echo "$known"
  # One grep over /proc instead of a fork per process.
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [[ $pid != "$known" ]] && is_our_pid "$pid" && echo "$pid"
  done < <(grep -lsF -- "$PROPS" /proc/[0-9]*/cmdline 2>/dev/null)
  return 0
}
main_pid() { find_pids | head -n 1; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# A broker "answers" when a Metadata request lists at least one live broker:
# KRaft only lists unfenced brokers, so after this topic creation works.
# Raw protocol from python avoids a ~2 s JVM per poll on 2 cores.
probe() {
  if ! command -v python3 >/dev/null; then
    port_open "$KAFKA_PORT"
    return
  fi
  python3 - "$HOST" "$KAFKA_PORT" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(3)
    cid = b"kafka.sh-probe"
    # Metadata v4 (v0-v3 were removed in Kafka 4.0): header v1, empty topic
    # list, allow_auto_topic_creation=false.
    body = struct.pack(">hhih", 3, 4, 7, len(cid)) + cid + struct.pack(">ib", 0, 0)
    s.sendall(struct.pack(">i", len(body)) + body)
    def read(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError("connection closed")
            b += c
        return b
    size, = struct.unpack(">i", read(4))
    resp = read(size)
    corr, throttle, nbrokers = struct.unpack(">iii", resp[:12])
    sys.exit(0 if corr == 7 and nbrokers >= 1 else 1)
except Exception:
    sys.exit(1)
PY
}

render_config() {
  cat <<EOF
# Generated by scripts/kafka.sh on every start; edit the script, not this file.
# jvm: $KAFKA_HEAP $KAFKA_JVM_FLAGS $KAFKA_OPTS
process.roles=broker,controller
node.id=1
# Static voter set (not --standalone/dynamic quorum) so the controller port is
# not baked into the formatted metadata and may change between runs.
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$KRAFT_DIR

# Single node: every internal topic must be satisfiable with one replica.
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
# 50 internal partitions (the default) cost seconds on the first group join.
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Consumers in tests should get partitions immediately.
group.initial.rebalance.delay.ms=0
# Fewer threads than the defaults: 2 cores are shared with the tests.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  if [[ -n $KAFKA_EXTRA_PROPERTIES ]]; then
    [[ -r $KAFKA_EXTRA_PROPERTIES ]] || die "KAFKA_EXTRA_PROPERTIES=$KAFKA_EXTRA_PROPERTIES is not a readable file"
    echo
    echo "# ---- appended from $KAFKA_EXTRA_PROPERTIES"
    cat "$KAFKA_EXTRA_PROPERTIES"
    echo
  fi
}

write_config() {
  mkdir -p "$LOGDIR" "$KRAFT_DIR"
  render_config >"$PROPS.tmp"
  mv "$PROPS.tmp" "$PROPS"

  cat >"$DATA/log4j2.properties" <<'EOF'
status = error
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
# Per-request and state-change chatter drowns the useful lines.
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
EOF
}

format_if_needed() {
  [[ -f $KRAFT_DIR/meta.properties ]] && return 0
  # A Kafka Uuid is 16 random bytes in url-safe base64 without padding; made
  # here to save a JVM start. Kafka's own generator also avoids a leading '-'.
  local id=-
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  log "formatting new KRaft storage in $KRAFT_DIR (cluster id $id)"
  run_tool storage format --config "$PROPS" --cluster-id "$id" >>"$OUT" 2>&1 \
    || { tail -n 20 "$OUT" >&2; die "storage format failed (log: $OUT)"; }
}

print_tail() {
  echo "----- tail of $OUT" >&2
  tail -n 15 "$OUT" >&2 2>/dev/null || true
  echo "----- tail of $LOGDIR/server.log" >&2
  tail -n 40 "$LOGDIR/server.log" >&2 2>/dev/null || true
}

wait_ready() {
  local pid=$1 deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      print_tail
      die "broker process $pid exited during startup (logs: $DATA)"
    fi
    probe && return 0
    sleep 0.3
  done
  print_tail
  return 1
}

ready_msg() { echo "kafka: listening on $BOOTSTRAP (pid $1, logs $DATA)"; }

cmd_start() {
  ensure_libs
  mkdir -p "$DATA"
  # Serialises start/stop on one data dir (e.g. two test packages racing).
  exec 9>"$DATA/.lock"
  flock 9

  local pid
  pid=$(main_pid)
  if [[ -n $pid ]]; then
    # start means "running with THIS configuration": a caller that changed
    # e.g. KAFKA_EXTRA_PROPERTIES would otherwise silently get the old one.
    # (server.properties carries the JVM flags in a comment for this check.)
    if render_config | cmp -s - "$PROPS"; then
      # Already running (or still starting from a concurrent call).
      wait_ready "$pid" || die "broker pid $pid is running but does not answer on $BOOTSTRAP"
      ready_msg "$pid"
      return 0
    fi
    log "running broker (pid $pid) has a different server.properties; restarting it to apply the new one (data kept)"
    stop_pids >/dev/null || true
  fi
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_open "$p" && die "port $HOST:$p is already in use by another process (not the broker of $DATA); set KAFKA_PORT/KAFKA_CONTROLLER_PORT"
  done

  write_config
  format_if_needed

  echo "===== $(date -u +%FT%TZ) start (port $KAFKA_PORT)" >>"$OUT"
  rm -f "$PIDFILE"
  cds_args broker "$DATA/broker.jsa.new"
  # setsid: the broker must outlive this script and not get the caller's
  # SIGINT/SIGHUP. The inner shell records its own pid and then execs java, so
  # the pidfile holds the JVM's pid. fds 8/9 are our flocks: a broker that
  # inherited them would block every later stop.
  # shellcheck disable=SC2086  # KAFKA_HEAP / *_FLAGS / KAFKA_OPTS are intentionally word-split
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    java -server $KAFKA_HEAP $KAFKA_JVM_FLAGS -XX:+ExitOnOutOfMemoryError "${CDS_ARGS[@]}" \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOGDIR" -Dlog4j2.configurationFile="$DATA/log4j2.properties" \
    $KAFKA_OPTS \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" \
    </dev/null >>"$OUT" 2>&1 8>&- 9>&- &
  for _ in {1..50}; do [[ -s $PIDFILE ]] && break; sleep 0.05; done
  pid=$(<"$PIDFILE") || die "broker did not start (no pidfile); see $OUT"

  if ! wait_ready "$pid"; then
    log "broker did not answer on $BOOTSTRAP within ${KAFKA_START_TIMEOUT}s; stopping it"
    stop_pids
    die "start failed (logs: $DATA)"
  fi
  ready_msg "$pid"
}

stop_pids() {
  local pids
  pids=$(find_pids | sort -u | tr '\n' ' ')
  [[ -n ${pids// /} ]] || return 1
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT)) p alive killed=
  while :; do
    alive=
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive+="$p "; done
    [[ -z $alive ]] && break
    if ((SECONDS >= deadline)); then
      log "pid(s) $alive ignored SIGTERM for ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
      # shellcheck disable=SC2086
      kill -KILL $alive 2>/dev/null || true
      killed=1
      deadline=$((SECONDS + 10))
    fi
    sleep 0.2
  done
  rm -f "$PIDFILE"
  if [[ -f $DATA/broker.jsa.new ]]; then
    LIBS=$CACHE/libs-$(pom_hash)
    if [[ -z $killed ]]; then cds_adopt broker "$DATA/broker.jsa.new"; else rm -f "$DATA/broker.jsa.new"; fi
  fi
  echo "kafka: stopped $BOOTSTRAP (pid ${pids% })"
}

cmd_stop() {
  if [[ -d $DATA ]]; then
    exec 9>"$DATA/.lock"
    flock 9
  fi
  stop_pids || { rm -f "$PIDFILE"; echo "kafka: not running on $BOOTSTRAP"; }
}

cmd_status() {
  local pid
  pid=$(main_pid)
  if [[ -z $pid ]]; then
    echo "kafka: not running ($DATA)"
    return 1
  fi
  if probe; then
    echo "kafka: running on $BOOTSTRAP (pid $pid, logs $DATA)"
  else
    echo "kafka: pid $pid is up but $BOOTSTRAP does not answer (starting or wedged; logs $DATA)"
    return 1
  fi
}

# The admin tools would otherwise retry for a minute, flooding warnings.
need_running() { probe || die "no broker answers on $BOOTSTRAP (scripts/kafka.sh start)"; }

# Not plain --if-not-exists: with auto.create.topics.enable a consumer that
# subscribed first leaves a 1-partition topic behind, and a test expecting 12
# partitions would then pass setup and fail obscurely.
topics_create() {
  local name=$1 want=$2 out have rc=0
  out=$(run_tool topics --bootstrap-server "$BOOTSTRAP" --create --topic "$name" \
    --partitions "$want" --replication-factor 1 2>&1) || rc=$?
  if ((rc == 0)); then
    echo "Created topic $name with $want partitions."
    return 0
  fi
  [[ $out == *"already exists"* ]] || { echo "$out" >&2; die "could not create topic $name"; }
  have=$(run_tool topics --bootstrap-server "$BOOTSTRAP" --describe --topic "$name" |
    sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
  [[ -n $have ]] || die "topic $name exists but its partition count could not be read"
  if ((have == want)); then
    echo "Topic $name already exists with $want partitions."
  elif ((have < want)); then
    run_tool topics --bootstrap-server "$BOOTSTRAP" --alter --topic "$name" --partitions "$want" >/dev/null
    echo "Topic $name existed with $have partitions; increased to $want."
  else
    die "topic $name already exists with $have partitions (> $want); delete it or pick another name"
  fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  topics-create)
    [[ $# -eq 3 && $3 =~ ^[1-9][0-9]*$ ]] || die "usage: $0 topics-create NAME PARTITIONS"
    need_running
    topics_create "$2" "$3"
    ;;
  groups-describe)
    [[ $# -eq 2 ]] || die "usage: $0 groups-describe GROUP"
    need_running
    run_tool consumer-groups --bootstrap-server "$BOOTSTRAP" --describe --group "$2"
    ;;
  tool)
    [[ $# -ge 2 ]] || die "usage: $0 tool NAME|CLASS [ARGS...]"
    shift
    run_tool "$@"
    ;;
  bootstrap) echo "$BOOTSTRAP" ;;
  *)
    echo "usage: $0 start|stop|status|restart|topics-create NAME PARTITIONS|groups-describe GROUP|tool NAME|CLASS [ARGS...]|bootstrap" >&2
    exit 2
    ;;
esac
