#!/usr/bin/env bash
# A cluster of emporium nodes on one machine, without Docker: `make cluster-up`
# and `make cluster-down` run this script (README: "Run a cluster on one
# machine"; docs/operations.md). Everything runs in the background, with
# logs and PIDs under CLUSTER_DIR.
#
#   cluster.sh up            build, start the shared store (and Redis), then CLUSTER_NODES nodes
#   cluster.sh down          stop every node (SIGTERM: they drain), then the store
#   cluster.sh status        what runs, and each node's /readyz
#   cluster.sh start N       start node N (e.g. 4: a node joins; or restart a stopped one)
#   cluster.sh stop N        stop node N with SIGTERM (it drains, passivates its grains, leaves)
#   cluster.sh kill N        kill node N with SIGKILL (a crash: nothing acknowledged is lost)
#
# Settings (environment):
#   CLUSTER_BASE_PORT  8080    node N serves HTTP on BASE+N (8081, 8082, ...), metrics on
#                              BASE+100+N, the cluster remote on BASE+200+N, its health
#                              endpoint on BASE+300+N; the store listens on BASE+400 and
#                              the Redis devstore starts on BASE+401
#   CLUSTER_NODES      3       nodes `up` starts
#   CLUSTER_MAX_NODES  4       nodes the peer list names (automanaged has a fixed list, so
#                              a node that may join later must be in it from the start)
#   CLUSTER_DIR        ./data/cluster
#   CLUSTER_STORE      postgres  or sqlite (FerretDB on SQLite files: Go alone, demo sizes)
#   EMPORIUM_POSTGRES_URL  postgres://postgres@127.0.0.1:5432/postgres
#   REDIS_URL          a Redis to use; unset, devstore serves an in-memory one
#   SEED               200     demo products node 1 loads into an empty catalogue
#   PUBLIC_URL         http://127.0.0.1:BASE+1  the cluster's one public URL: every node
#                              issues and accepts access tokens under it (so a token from
#                              one node works on the others) and puts it in mail links
set -euo pipefail
cd "$(dirname "$0")/../.."

BASE=${CLUSTER_BASE_PORT:-8080}
NODES=${CLUSTER_NODES:-3}
MAX=${CLUSTER_MAX_NODES:-4}
DIR=${CLUSTER_DIR:-./data/cluster}
STORE=${CLUSTER_STORE:-postgres}
PG=${EMPORIUM_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SEED=${SEED:-200}
BIN=./bin

if (( MAX < NODES )); then MAX=$NODES; fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit 1; }

http_port() { echo $((BASE + $1)); }
metrics_port() { echo $((BASE + 100 + $1)); }
remote_port() { echo $((BASE + 200 + $1)); }
health_port() { echo $((BASE + 300 + $1)); }
STORE_ADDR=127.0.0.1:$((BASE + 400))
DEVREDIS_ADDR=127.0.0.1:$((BASE + 401))

peers() {
  local list="" i
  for ((i = 1; i <= MAX; i++)); do list+="${list:+,}127.0.0.1:$(health_port "$i")"; done
  echo "$list"
}

# listening HOST:PORT reports whether something accepts connections there.
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# alive NAME reports whether the process in NAME.pid runs and is ours (the
# pid file names a process whose command line is the one we started).
alive() {
  local pidfile="$DIR/$1.pid" pid
  [[ -f $pidfile ]] || return 1
  pid=$(cat "$pidfile")
  [[ -r /proc/$pid/cmdline ]] || kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -e "$BIN/emporium" -e "$BIN/devstore" || return 1
  fi
}

# wait_for WHAT SECONDS CMD... retries CMD until it succeeds or time runs out.
wait_for() {
  local what=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.2
  done
}

ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$(http_port "$1")/readyz"; }

build() {
  say "building $BIN/emporium and $BIN/devstore"
  mkdir -p "$BIN"
  go build -o "$BIN/emporium" ./cmd/emporium
  go build -o "$BIN/devstore" ./tools/devstore
}

redis_url() {
  if [[ -n ${REDIS_URL:-} ]]; then echo "$REDIS_URL"; else echo "redis://$DEVREDIS_ADDR/0"; fi
}

start_store() {
  if alive devstore; then say "store already runs (pid $(cat "$DIR/devstore.pid"))"; return; fi
  local args=(--addr "$STORE_ADDR")
  case $STORE in
    postgres)
      local hostport=${PG#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
      [[ $hostport == *:* ]] || hostport+=":5432"
      listening "$hostport" || die "no PostgreSQL answers at $hostport (EMPORIUM_POSTGRES_URL=$PG).
  Install and start one (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql && brew services start postgresql),
  point EMPORIUM_POSTGRES_URL at yours, or run CLUSTER_STORE=sqlite make cluster-up (SQLite files; demo sizes only)."
      args+=(--postgres-url "$PG") ;;
    sqlite) args+=(--sqlite-dir "$DIR/store") ;;
    *) die "CLUSTER_STORE=$STORE is neither postgres nor sqlite" ;;
  esac
  [[ -n ${REDIS_URL:-} ]] || args+=(--redis-addr "$DEVREDIS_ADDR")
  say "starting the shared store on $STORE_ADDR ($STORE)${REDIS_URL:+}$([[ -n ${REDIS_URL:-} ]] || echo " and Redis on $DEVREDIS_ADDR")"
  nohup "$BIN/devstore" "${args[@]}" >>"$DIR/devstore.log" 2>&1 &
  echo $! >"$DIR/devstore.pid"
  wait_for store 30 listening "$STORE_ADDR" || die "the store did not listen on $STORE_ADDR; see $DIR/devstore.log"
}

start_node() {
  local n=$1
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX)) || die "node $n: nodes are numbered 1 to CLUSTER_MAX_NODES=$MAX (raise it, and restart the cluster, for more)"
  if alive "node$n"; then say "node $n already runs (pid $(cat "$DIR/node$n.pid"))"; return; fi
  alive devstore || die "the store does not run; make cluster-up first"
  mkdir -p "$DIR/node$n" "$DIR/keys"
  local seed=0
  ((n == 1)) && seed=$SEED
  say "starting node $n: http://127.0.0.1:$(http_port "$n") (log $DIR/node$n.log)"
  (
    export HTTP_ADDR=127.0.0.1:$(http_port "$n") METRICS_ADDR=127.0.0.1:$(metrics_port "$n")
    export DATA_DIR=$DIR/node$n JWT_KEY_FILE=$DIR/keys/jwt-ed25519.pem
    export MONGODB_URI=mongodb://$STORE_ADDR/ MONGODB_DATABASE=${MONGODB_DATABASE:-emporium}
    export REDIS_URL=$(redis_url)
    export CLUSTER_PROVIDER=automanaged CLUSTER_ADDR=127.0.0.1:$(remote_port "$n")
    export CLUSTER_HEALTH_PORT=$(health_port "$n") CLUSTER_PEERS=$(peers)
    # One issuer for the whole cluster: a token one node signs is valid on all.
    export PUBLIC_URL=${PUBLIC_URL:-http://127.0.0.1:$(http_port 1)}
    exec nohup "$BIN/emporium" serve --seed "$seed" >>"$DIR/node$n.log" 2>&1
  ) &
  echo $! >"$DIR/node$n.pid"
}

wait_ready() {
  local n=$1
  wait_for "node $n" 120 ready "$n" || die "node $n is not ready after 120 s; see $DIR/node$n.log"
  say "node $n ready"
}

stop_pid() { # stop_pid NAME SIGNAL SECONDS
  local name=$1 sig=$2 secs=$3 pid
  alive "$name" || { rm -f "$DIR/$name.pid"; return 0; }
  pid=$(cat "$DIR/$name.pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  if ! wait_for "$name" "$secs" eval "! kill -0 $pid 2>/dev/null"; then
    say "$name (pid $pid) still runs after $secs s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$name.pid"
}

cmd=${1:-}
case $cmd in
  up)
    command -v curl >/dev/null || die "cluster.sh needs curl to wait for the nodes' /readyz"
    build
    start_store
    start_node 1
    wait_ready 1 # node 1 creates the shared JWT key and seeds the catalogue before the others start
    for ((i = 2; i <= NODES; i++)); do start_node "$i"; done
    for ((i = 2; i <= NODES; i++)); do wait_ready "$i"; done
    say "up: $NODES nodes on http://127.0.0.1:$(http_port 1)..$(http_port "$NODES"); store mongodb://$STORE_ADDR/, Redis $(redis_url)"
    say "logs and PIDs in $DIR; make cluster-down stops everything" ;;
  down)
    for pidfile in "$DIR"/node*.pid; do
      [[ -e $pidfile ]] || continue
      name=$(basename "$pidfile" .pid)
      say "stopping $name (SIGTERM)"
      stop_pid "$name" TERM 30 &
    done
    wait
    say "stopping the store"
    stop_pid devstore TERM 15
    say "down (data stays in $DIR and in the store; rm -rf $DIR and drop the emporium schema to forget it)" ;;
  status)
    for name in devstore $(for ((i = 1; i <= MAX; i++)); do echo "node$i"; done); do
      if alive "$name"; then
        state="runs (pid $(cat "$DIR/$name.pid"))"
        if [[ $name == node* ]]; then
          n=${name#node}
          state+=", http://127.0.0.1:$(http_port "$n") $(curl -s --max-time 2 "http://127.0.0.1:$(http_port "$n")/readyz" || echo "not answering")"
        fi
        echo "$name: $state"
      else
        echo "$name: stopped"
      fi
    done ;;
  start)
    [[ -n ${2:-} ]] || die "usage: cluster.sh start N"
    [[ -x $BIN/emporium ]] || build
    start_node "$2"
    wait_ready "$2" ;;
  stop)
    [[ -n ${2:-} ]] || die "usage: cluster.sh stop N"
    say "stopping node $2 (SIGTERM: drain, passivate, leave)"
    stop_pid "node$2" TERM 30 ;;
  kill)
    [[ -n ${2:-} ]] || die "usage: cluster.sh kill N"
    alive "node$2" || die "node $2 does not run"
    say "killing node $2 (SIGKILL)"
    kill -KILL "$(cat "$DIR/node$2.pid")"
    rm -f "$DIR/node$2.pid" ;;
  *)
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
    [[ -z $cmd ]] || exit 2 ;;
esac
