# Shared helpers of the benchmark scripts (sourced, not run). See bench/README.md.
# shellcheck shell=bash
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${CHANSUM_BUILD_DIR:-$top/build}
bin_dir="$build_dir/bin"
bench_run=${BENCH_RUN_DIR:-$top/.run/bench}
port_base=${BENCH_PORT_BASE:-28180}
clk_tck=$(getconf CLK_TCK)
mkdir -p "$bench_run"

blog() { printf '[bench] %s\n' "$*" >&2; }

# Environment of the stack (DATABASE_URL, AMQP_URL, KAFKA_BROKERS, MONGO_URI).
bench_stack_env() {
  [ -f "$top/deploy/local/stack.local.env" ] && source "$top/deploy/local/stack.local.env"
  eval "$("$top/deploy/local/stack" env)"
}

# MONGO_URI with its database replaced by $1.
mongo_uri_db() {
  local base=${MONGO_URI%%\?*}
  base=${base%/*}
  echo "$base/$1"
}

bench_pids=()
# bench_start <name> <log> <command...>: runs a service in its own session, records its pid.
bench_start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  local pid=$!
  bench_pids+=("$pid")
  eval "pid_${name}=$pid"
}

# Stops every process bench_start started (TERM, then KILL after 20 s).
bench_stop_all() {
  local pid
  for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${bench_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  bench_pids=()
}

wait_http() {  # url timeout_s
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# CPU seconds (user + system) a process has used so far, children included once they were waited
# for (yt-dlp, ffmpeg run as children of the stage services).
cpu_seconds() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  # fields after "(comm) ": state=1 ... utime=12 stime=13 cutime=14 cstime=15
  awk -v t="$clk_tck" '{ printf "%.2f", ($12 + $13 + $14 + $15) / t }' <<<"$stat"
}

rss_mb() {  # current RSS in MiB
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}
hwm_mb() {  # peak RSS in MiB
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# "busy idle" CPU seconds of the whole machine so far, all cores (/proc/stat: busy = user, nice,
# system, irq, softirq, steal; idle = idle, iowait).
machine_cpu() {
  awk -v t="$clk_tck" '/^cpu / { printf "%.2f %.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / t, ($5 + $6) / t }' /proc/stat
}

psql_q() { psql "$DATABASE_URL" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

# Submits a job; prints its id.
submit_job() {  # api_port channel max_videos
  curl -fsS --max-time 30 -H 'Content-Type: application/json' \
    -d "{\"channel\":\"$2\",\"max_videos\":$3}" "http://127.0.0.1:$1/jobs" | jq -r .job_id
}

# Waits until every job id in the file $1 is terminal; gives up after $2 s.
wait_jobs() {
  local ids deadline=$((SECONDS + $2))
  ids=$(sed "s/.*/'&'/" "$1" | paste -sd,)
  while [ $SECONDS -lt $deadline ]; do
    local open
    open=$(psql_q "SELECT count(*) FROM jobs WHERE id IN ($ids) AND state IN ('queued','running')")
    [ "$open" = 0 ] && return 0
    sleep 1
  done
  return 1
}
