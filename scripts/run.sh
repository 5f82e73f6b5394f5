#!/usr/bin/env bash
# `make run`: prepares the local environment idempotently and runs the server in the foreground.
#  - SoftHSM2 tokens (one per key domain + root) with their own PINs under $STATE/hsm
#  - redis-server on 127.0.0.1 (AOF on, pid file under $STATE/redis), reused if already running; it requires a
#    generated password kept in $STATE/redis/password (0600), given to redis through a 0600 config file and to
#    redis-cli through REDISCLI_AUTH, never on a command line
#  - dev caller keys under $STATE/keys (made by the server at first start)
#  - the server; Ctrl-C stops it and the Redis this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
state=$(realpath -m "${DTRUST_STATE_DIR:-.state}")
redis_port=${DTRUST_REDIS_PORT:-6390}
mkdir -p "$state/redis" "$state/keys" "$state/pki"
chmod 700 "$state"

conf=$(bash scripts/softhsm-tokens.sh "$state/hsm" simple advanced qualified seal-qualified seal-advanced tsa audit root)
export SOFTHSM2_CONF="$conf"

umask 077
if [ ! -s "$state/redis/password" ]; then
  head -c 32 /dev/urandom | base64 | tr -d '/+=' > "$state/redis/password"
fi
export REDISCLI_AUTH; REDISCLI_AUTH=$(cat "$state/redis/password")
cat > "$state/redis/redis.conf" <<CONF
bind 127.0.0.1
port $redis_port
dir $state/redis
appendonly yes
save ""
pidfile $state/redis/redis.pid
logfile $state/redis/redis.log
daemonize yes
requirepass $REDISCLI_AUTH
CONF

pidfile="$state/redis/redis.pid"
started_redis=""
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "redis: reusing pid $(cat "$pidfile") on 127.0.0.1:$redis_port"
else
  redis-server "$state/redis/redis.conf"
  for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  started_redis=1
  echo "redis: started on 127.0.0.1:$redis_port"
fi

server_pid=""
cleanup() {
  trap - EXIT INT TERM
  set +e  # stop everything even if one step fails
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [ -n "$started_redis" ] && [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null
    # Redis flushes the AOF on SIGTERM; wait until it has really gone before saying so.
    for _ in $(seq 100); do
      redis-cli -p "$redis_port" ping >/dev/null 2>&1 || break
      sleep 0.1
    done
    echo "redis: stopped"
  fi
}
trap cleanup EXIT
# Ctrl-C (or a TERM) is how this script is meant to end: clean up and exit 0, so make reports no error.
trap 'cleanup; exit 0' INT TERM

dotnet build src/SigningServer -c Release -v q -nologo
# The CLI too, so that the README's alias starts the built binary (0.1 s) instead of dotnet run (seconds).
dotnet build src/Client -c Release -v q -nologo
export DTrust__StateDirectory="$state"
export DTrust__Redis__Configuration="127.0.0.1:$redis_port"
export DTrust__Redis__PasswordFile="$state/redis/password"
export DTrust__Development="${DTrust__Development:-true}"
dotnet src/SigningServer/bin/Release/net10.0/DTrust.SigningServer.dll "$@" &
server_pid=$!
wait "$server_pid"
