#!/usr/bin/env bash
# AWS emulator for end-to-end tests: moto server (Firehose, S3, STS, IAM all on
# one port) in a venv at .cache/aws/venv, plus an S3 bucket and Firehose
# delivery streams created by scripts/aws_setup.py.
#
# Usage:
#   scripts/aws.sh start | stop | status | restart
#   scripts/aws.sh setup            # re-create bucket/streams (e.g. after POST /moto-api/reset)
#   scripts/aws.sh auth-on [--trusted-role NAME]... [--untrusted-role NAME]...   # see (c)
#   scripts/aws.sh auth-off
#   scripts/aws.sh assumed-roles    # JSON lines of successful AssumeRole calls
#   scripts/aws.sh env              # export lines for a worker/test pointed at the emulator
#
# Env knobs (defaults): AWS_EMULATOR_PORT=14566, AWS_BUCKET=firehose-worker-e2e,
#   FIREHOSE_STREAMS="new_users pages everything", AWS_ACCESS_KEY_ID=test,
#   AWS_SECRET_ACCESS_KEY=test, AWS_REGION=us-west-2, AWS_EMULATOR_RECORD=0 (1: moto
#   records every request, bodies included, to run-PORT/recording.jsonl),
#   AWS_START_TIMEOUT=60. State dir: .cache/aws/run-$AWS_EMULATOR_PORT/{moto.pid,moto.log}.
#   moto keeps everything in memory: stop/restart loses all buckets, objects and
#   streams (start re-creates the bucket and streams, empty).
#
# moto 5.2.5 behaviour, verified with boto3 against this server:
# (a) PutRecordBatch/PutRecord to a stream with an (Extended)S3 destination writes
#     synchronously, before the call returns, exactly ONE S3 object per API call
#     (buffering hints ignored). The object is the plain concatenation of the
#     records' bytes, nothing added: [b'{"a":1}\n', b'{"b":2}', b'xyz\n'] gives
#     b'{"a":1}\n{"b":2}xyz\n'. Key: <Prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid4>
#     (UTC; a "/" is added to a non-empty prefix lacking one), e.g.
#     pages/2026/11/25/22/pages-1-2026-11-25-22-17-09-72562cdd-61bf-45be-92cb-5f14c07bc038.
#     FailedPutCount is always 0; there is no per-record failure injection.
# (b) PutRecordBatch/PutRecord to a missing stream: HTTP 400
#     ResourceNotFoundException "Firehose NAME under account 123456789012 not found."
# (c) AssumeRole accepts ANY role ARN by default (the role need not exist) and
#     returns ASIA... credentials + session token that moto accepts for every
#     service. The role ARN's account selects the account those credentials act
#     in, and the streams/bucket live in 123456789012, so:
#       - role in 123456789012 (existing or not): the source works.
#       - role in another account (e.g. arn:aws:iam::999999999999:role/x): AssumeRole
#         succeeds, then PutRecordBatch fails with ResourceNotFoundException
#         "... under account 999999999999 not found". Cheapest per-source failure,
#         no global state, but it is not an STS refusal.
#     To make STS itself REFUSE one role while another works: `aws.sh auth-on
#     --trusted-role ok-src --untrusted-role bad-src` (prints JSON with an access
#     key pair and role ARNs). It creates IAM user firehose-worker (allow *),
#     roles whose trust policy does / does not name that user, and turns moto's IAM
#     enforcement on (POST /moto-api/reset-auth "0"). Then, with the printed keys,
#     AssumeRole(bad-src) -> HTTP 403 AccessDenied "User: arn:aws:iam::123456789012:
#     user/firehose-worker is not authorized to perform: sts:AssumeRole", while
#     AssumeRole(ok-src) + PutRecordBatch work. Enforcement is server-wide: every
#     request must then be signed by moto-issued keys (test/test -> 403
#     InvalidClientTokenId), so give such a test its own AWS_EMULATOR_PORT, read S3
#     with the printed keys, and `aws.sh auth-off` afterwards. Dead ends: the env
#     INITIAL_NO_AUTH_ACTION_COUNT counts requests (fragile); a trust-policy
#     sts:ExternalId condition only refuses a WRONG ExternalId (a missing one
#     passes); a role absent from IAM under enforcement is assumed fine and then
#     every call with its credentials gets HTTP 500.
#     Seeing the calls: the server log shows only `"POST / HTTP/1.1" 200` (the STS
#     Action is in the form body), so no. GET /moto-api/data.json lists successful
#     ones under sts.AssumedRole (role_arn, session_name, external_id, account_id);
#     `aws.sh assumed-roles` prints them. Refused ones appear only in the request
#     recorder (AWS_EMULATOR_RECORD=1, or POST /moto-api/recorder/start-recording at
#     runtime): JSON lines with base64 form bodies containing Action=AssumeRole&RoleArn=...
# (d) By default moto validates neither the SigV4 signature nor the keys: any
#     key id/secret pair works (a wrong secret too). Only with enforcement on
#     (auth-on) are keys looked up (InvalidClientTokenId) and signatures
#     recomputed (SignatureDoesNotMatch).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
CACHE=$ROOT/.cache/aws
VENV=$CACHE/venv
REQS=$SCRIPT_DIR/aws-requirements.txt
SETUP_PY=$SCRIPT_DIR/aws_setup.py

HOST=127.0.0.1
AWS_EMULATOR_PORT=${AWS_EMULATOR_PORT:-14566}
[[ $AWS_EMULATOR_PORT =~ ^[0-9]+$ ]] || { echo "aws: AWS_EMULATOR_PORT must be a number, got '$AWS_EMULATOR_PORT'" >&2; exit 2; }
AWS_START_TIMEOUT=${AWS_START_TIMEOUT:-60}
AWS_EMULATOR_RECORD=${AWS_EMULATOR_RECORD:-0}
export AWS_BUCKET=${AWS_BUCKET:-firehose-worker-e2e}
export FIREHOSE_STREAMS=${FIREHOSE_STREAMS:-new_users pages everything}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-west-2}}
export AWS_DEFAULT_REGION=$AWS_REGION
export AWS_EMULATOR_PORT
ENDPOINT=http://$HOST:$AWS_EMULATOR_PORT
export AWS_ENDPOINT_URL=$ENDPOINT
# Real profiles/IMDS must never leak into emulator calls.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

RUN=$CACHE/run-$AWS_EMULATOR_PORT
PIDFILE=$RUN/moto.pid
LOG=$RUN/moto.log

die() { echo "aws: ERROR: $*" >&2; exit 1; }
log() { echo "aws: $*" >&2; }

# ---------------------------------------------------------------- venv

# A venv is not relocatable, so it is built in place; the marker holds the
# requirements hash and is written last, so an interrupted install or a
# changed pin list rebuilds it.
ensure_venv() {
  local want marker=$VENV/.installed
  [[ -f $REQS ]] || die "missing $REQS"
  want=$(sha256sum "$REQS" | cut -c1-16)
  [[ -f $marker && $(<"$marker") == "$want" && -x $VENV/bin/python ]] && return 0
  command -v python3 >/dev/null || die "python3 not found (needed for the moto venv)"
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.install.lock"
  flock 8
  if ! [[ -f $marker && $(<"$marker") == "$want" ]]; then
    log "installing moto into $VENV (once)"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS" >"$CACHE/pip.log" 2>&1; then
      tail -n 30 "$CACHE/pip.log" >&2
      die "pip install -r $REQS failed (log: $CACHE/pip.log)"
    fi
    echo "$want" >"$marker"
  fi
  exec 8>&-
}

# ---------------------------------------------------------------- process

# Launched through a -c stub so werkzeug's ANSI colouring is off (it colours
# even when writing to a file, which breaks grepping the log). The stub and
# "-p PORT" make the command line unique per port.
LAUNCH='import sys, werkzeug.serving as w; w._log_add_style = False; from moto.server import main; sys.exit(main())'

is_our_pid() {
  local pid=$1 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
  [[ $cmd == "$VENV/bin/python -c "*"moto.server"*" -H $HOST -p $AWS_EMULATOR_PORT "* ]]
}
find_pids() {
  local pid f known=
  [[ -f $PIDFILE ]] && known=$(<"$PIDFILE")
  is_our_pid "$known" && echo "$known"
  while IFS= read -r f; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [[ $pid != "$known" ]] && is_our_pid "$pid" && echo "$pid"
  done < <(grep -lsF -- "moto.server" /proc/[0-9]*/cmdline 2>/dev/null)
  return 0
}
main_pid() { find_pids | head -n 1; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Any HTTP answer from moto's own API means the WSGI app is up; pure bash so
# polling costs no python start.
probe() {
  local status
  # shellcheck disable=SC2016  # expanded by the inner shell
  status=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET /moto-api/config HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$0" "$1" >&3
    IFS= read -r line <&3 && echo "$line"' "$HOST" "$AWS_EMULATOR_PORT" 2>/dev/null) || return 1
  [[ $status == HTTP/1.?\ 2* ]]
}

run_setup() {
  "$VENV/bin/python" "$SETUP_PY" setup || die "bucket/stream setup failed (server log: $LOG)"
}

ready_msg() { echo "aws: moto listening on $ENDPOINT (pid $1, logs $LOG)"; }

cmd_start() {
  ensure_venv
  mkdir -p "$RUN"
  exec 9>"$RUN/.lock"
  flock 9
  local pid deadline
  pid=$(main_pid)
  if [[ -z $pid ]]; then
    port_open "$AWS_EMULATOR_PORT" && die "port $HOST:$AWS_EMULATOR_PORT is already in use by another process; set AWS_EMULATOR_PORT"
    local rec=()
    [[ $AWS_EMULATOR_RECORD == 1 ]] && rec=(MOTO_ENABLE_RECORDING=true)
    : >"$RUN/recording.jsonl"
    echo "===== $(date -u +%FT%TZ) start (port $AWS_EMULATOR_PORT)" >>"$LOG"
    rm -f "$PIDFILE"
    # setsid: outlive this script and the caller's Ctrl-C. The inner shell
    # writes its own pid then execs python, so the pidfile names the server.
    # fds 8/9 are our flocks and must not be inherited.
    # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
    env ${rec[@]+"${rec[@]}"} MOTO_RECORDER_FILEPATH="$RUN/recording.jsonl" PYTHONUNBUFFERED=1 \
      setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
      "$VENV/bin/python" -c "$LAUNCH" -H "$HOST" -p "$AWS_EMULATOR_PORT" \
      </dev/null >>"$LOG" 2>&1 8>&- 9>&- &
    for _ in {1..50}; do [[ -s $PIDFILE ]] && break; sleep 0.05; done
    pid=$(<"$PIDFILE") || die "moto did not start (no pidfile); see $LOG"
  fi
  deadline=$((SECONDS + AWS_START_TIMEOUT))
  until probe; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG" >&2
      die "moto (pid $pid) exited during startup (log: $LOG)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$LOG" >&2
      stop_pids >/dev/null || true
      die "moto did not answer on $ENDPOINT within ${AWS_START_TIMEOUT}s (log: $LOG)"
    fi
    sleep 0.2
  done
  run_setup
  ready_msg "$pid"
}

stop_pids() {
  local pids p alive deadline
  pids=$(find_pids | sort -u | tr '\n' ' ')
  [[ -n ${pids// /} ]] || return 1
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while :; do
    alive=
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive+="$p "; done
    [[ -z $alive ]] && break
    if ((SECONDS >= deadline)); then
      # shellcheck disable=SC2086
      kill -KILL $alive 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
  echo "aws: stopped moto on $ENDPOINT (pid ${pids% })"
}

cmd_stop() {
  if [[ -d $RUN ]]; then
    exec 9>"$RUN/.lock"
    flock 9
  fi
  stop_pids || { rm -f "$PIDFILE"; echo "aws: moto not running on $ENDPOINT"; }
}

cmd_status() {
  local pid
  pid=$(main_pid)
  [[ -n $pid ]] || { echo "aws: moto not running on $ENDPOINT"; return 1; }
  probe || { echo "aws: moto pid $pid is up but $ENDPOINT does not answer (log: $LOG)"; return 1; }
  echo "aws: moto running on $ENDPOINT (pid $pid, logs $LOG)"
}

need_running() { [[ -n $(main_pid) ]] || die "moto is not running on $ENDPOINT (scripts/aws.sh start)"; }

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  setup) need_running; run_setup ;;
  auth-on | auth-off | assumed-roles)
    need_running
    cmd=$1
    shift
    "$VENV/bin/python" "$SETUP_PY" "$cmd" "$@"
    ;;
  env)
    printf 'export %s=%q\n' AWS_ENDPOINT_URL "$ENDPOINT" AWS_REGION "$AWS_REGION" \
      AWS_ACCESS_KEY_ID "$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY "$AWS_SECRET_ACCESS_KEY" \
      AWS_BUCKET "$AWS_BUCKET"
    ;;
  *)
    echo "usage: $0 start|stop|status|restart|setup|auth-on [--trusted-role N]... [--untrusted-role N]...|auth-off|assumed-roles|env" >&2
    exit 2
    ;;
esac
