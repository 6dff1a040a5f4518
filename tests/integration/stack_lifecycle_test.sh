#!/usr/bin/env bash
# Lifecycle test of deploy/local/stack on a SECOND stack instance (its own run directory, every
# port shifted by CHANSUM_TEST_PORT_SHIFT, default 100), so the default stack others use is left
# alone: up -> status -> a real protocol round trip with each server -> up again changes nothing
# (same pids) -> down -> no process of that instance and no listening port remain -> down again.
# Exits non-zero with a message on the first failure; each step is bounded in time.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
stack="$top/deploy/local/stack"
shift_by=${CHANSUM_TEST_PORT_SHIFT:-100}
t_start=$SECONDS

fail() {
  printf 'stack_lifecycle_test: FAIL: %s\n' "$*" >&2
  exit 1
}
step() { printf 'stack_lifecycle_test: [%3ss] %s\n' "$((SECONDS - t_start))" "$*"; }

# Ports: the committed defaults from stack.env, shifted (the environment of the caller is ignored
# so a developer's own overrides cannot make the two instances collide).
default_of() {
  sed -n "s/^$1=\([0-9]*\).*/\1/p" "$top/deploy/local/stack.env"
}
names=(CHANSUM_PG_PORT CHANSUM_AMQP_PORT CHANSUM_RABBIT_DIST_PORT CHANSUM_EPMD_PORT
  CHANSUM_KAFKA_PORT CHANSUM_KAFKA_CONTROLLER_PORT CHANSUM_MONGO_PORT)
ports=()
for n in "${names[@]}"; do
  d=$(default_of "$n")
  [ -n "$d" ] || fail "no default for $n in deploy/local/stack.env"
  export "$n=$((d + shift_by))"
  ports+=("$((d + shift_by))")
done

listening() { [ -n "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]; }
for p in "${ports[@]}"; do
  listening "$p" && fail "port $p is already in use before the test: pick another CHANSUM_TEST_PORT_SHIFT"
done

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/chansum-stack-test.XXXXXX")
chmod 755 "$run_dir"
export CHANSUM_RUN_DIR="$run_dir"
stack_id=$(printf '%s' "$(cd "$run_dir" && pwd)" | sha256sum | cut -c1-10)

# Processes of this instance: the environment marker the stack gives every server process, or
# the run directory / cluster name on a command line.
instance_pids() {
  {
    grep -lzx "CHANSUM_STACK_ID=$stack_id" /proc/[0-9]*/environ 2>/dev/null || true
    grep -laF -e "$run_dir/" -e "chansum-$stack_id" /proc/[0-9]*/cmdline 2>/dev/null || true
  } | sed 's|^/proc/\([0-9]*\)/.*|\1|' | while read -r pid; do
    # skip this test's own processes (the greps above, subshells)
    [ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$(ps -o sid= -p $$ | tr -d ' ')" ] ||
      { kill -0 "$pid" 2>/dev/null && echo "$pid"; }
  done | sort -un
}

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "---- stack logs of the test instance" >&2
    timeout 10 "$stack" logs >&2 2>&1 || true
  fi
  timeout 120 "$stack" down >/dev/null 2>&1 || true
  local left
  left=$(instance_pids | tr '\n' ' ')
  # shellcheck disable=SC2086
  [ -n "${left// /}" ] && kill -KILL $left 2>/dev/null
  rm -rf "$run_dir"
  exit "$rc"
}
trap cleanup EXIT

# The default stack (if it is running) must not be disturbed by this test.
default_env=(env -u CHANSUM_RUN_DIR)
for n in "${names[@]}"; do default_env+=(-u "$n"); done
default_status_before=$("${default_env[@]}" "$stack" status 2>/dev/null || true)

# ------------------------------------------------------------------ protocol probes (independent
# of the stack script's own): each needs a real answer from the server.
# shellcheck disable=SC2016  # "$db" is the literal field name
mongo_ping() (
  exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  # OP_MSG {ping: 1, $db: "admin"}
  printf '\x33\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00'"\
"'\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00' >&3
  hex=$(timeout 5 head -c 4 <&3 | od -An -tx1 | tr -d ' \n')
  len=$((16#${hex:6:2}${hex:4:2}${hex:2:2}${hex:0:2}))
  body=$(timeout 5 head -c $((len - 4)) <&3 | od -An -tx1 | tr -d ' \n')
  # responseTo must be our request id 0x2a, and the document must hold ok: 1.0
  [ "${body:8:8}" = 2a000000 ] && [[ $body == *016f6b00000000000000f03f* ]]
)
kafka_api_versions() (
  exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf '\x00\x00\x00\x11\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x07lifetst' >&3
  hex=$(timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')
  [ "${hex:8:8}" = 0000002a ] && [ "${hex:16:4}" = 0000 ]
)
amqp_hello() (
  exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'AMQP\x00\x00\x09\x01' >&3
  hex=$(timeout 5 head -c 11 <&3 | od -An -tx1 | tr -d ' \n')
  [ "${hex:0:6}" = 010000 ] && [ "${hex:14:8}" = 000a000a ]
)

pids_of_status() { awk '$2 == "up" { print $1 "=" $NF }' <<<"$1" | sort | tr '\n' ' '; }

# ------------------------------------------------------------------ 1. up
step "up (run dir $run_dir, ports ${ports[*]})"
timeout 240 "$stack" up || fail "'stack up' failed"
step "up finished"

# ------------------------------------------------------------------ 2. status and env
status=$(timeout 30 "$stack" status) || fail "'stack status' exited non-zero after up:"$'\n'"$status"
echo "$status"
[ "$(grep -c ' up ' <<<"$status")" = 4 ] || fail "status does not list 4 servers up"
for want in "postgres .*:$CHANSUM_PG_PORT" "rabbitmq .*:$CHANSUM_AMQP_PORT" \
  "kafka .*:$CHANSUM_KAFKA_PORT" "mongo .*:$CHANSUM_MONGO_PORT .*FerretDB"; do
  grep -q "$want" <<<"$status" || fail "status has no line matching '$want'"
done
envout=$(timeout 30 "$stack" env)
eval "$envout"
[ "$DATABASE_URL" = "postgresql://chansum@127.0.0.1:$CHANSUM_PG_PORT/chansum" ] || fail "DATABASE_URL=$DATABASE_URL"
[ "$AMQP_URL" = "amqp://chansum:chansum@127.0.0.1:$CHANSUM_AMQP_PORT/" ] || fail "AMQP_URL=$AMQP_URL"
[ "$KAFKA_BROKERS" = "127.0.0.1:$CHANSUM_KAFKA_PORT" ] || fail "KAFKA_BROKERS=$KAFKA_BROKERS"
[ "$MONGO_URI" = "mongodb://127.0.0.1:$CHANSUM_MONGO_PORT/chansum" ] || fail "MONGO_URI=$MONGO_URI"

# ------------------------------------------------------------------ 3. each server answers
step "health checks"
out=$(timeout 30 psql -X -q -At "$DATABASE_URL" -c 'create table lifecycle(x int); insert into lifecycle values (42);
  select x from lifecycle; show max_connections; show fsync') || fail "psql against $DATABASE_URL failed"
[ "$out" = $'42\n200\non' ] || fail "unexpected PostgreSQL answers: $out"
amqp_hello "$CHANSUM_AMQP_PORT" || fail "RabbitMQ did not answer the AMQP protocol header"
kafka_api_versions "$CHANSUM_KAFKA_PORT" || fail "Kafka did not answer ApiVersions"
mongo_ping "$CHANSUM_MONGO_PORT" || fail "the Mongo wire server did not answer ping with ok: 1"
for p in "${ports[@]}"; do
  listening "$p" || fail "nothing listens on port $p"
  ss -ltnH "sport = :$p" | awk '{print $4}' | grep -qvE '^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):' &&
    fail "port $p listens on a non-loopback address: $(ss -ltnH "sport = :$p")"
done

# ------------------------------------------------------------------ 4. up again is a no-op
step "up again"
before=$(pids_of_status "$status")
again=$(timeout 120 "$stack" up 2>&1) || fail "second 'stack up' failed: $again"
[ "$(grep -c 'already up' <<<"$again")" = 4 ] || fail "second up did not report 4 servers already up: $again"
after=$(pids_of_status "$(timeout 30 "$stack" status)")
[ "$before" = "$after" ] || fail "pids changed across a second up: '$before' -> '$after'"

# ------------------------------------------------------------------ 5. down leaves nothing behind
step "down"
pids_up=$(instance_pids | tr '\n' ' ')
[ -n "${pids_up// /}" ] || fail "found no process of the instance while it was up (marker missing?)"
timeout 120 "$stack" down || fail "'stack down' failed"
sleep 0.5
left=$(instance_pids | tr '\n' ' ')
[ -z "${left// /}" ] || fail "processes of the instance remain after down: $(ps -o pid=,args= -p "${left// /,}" | cut -c1-150)"
for p in "${ports[@]}"; do
  listening "$p" && fail "port $p still listening after down: $(ss -ltnpH "sport = :$p")"
done
st=0
timeout 30 "$stack" status >/dev/null || st=$?
[ "$st" != 0 ] || fail "status exits 0 with the stack down"
timeout 60 "$stack" down >/dev/null || fail "a second 'stack down' failed (not idempotent)"

# ------------------------------------------------------------------ 6. the default stack is untouched
default_status_after=$("${default_env[@]}" "$stack" status 2>/dev/null || true)
[ "$default_status_before" = "$default_status_after" ] ||
  fail "the default stack changed during the test:"$'\n'"$default_status_before"$'\n'"->"$'\n'"$default_status_after"

step "passed"
echo "1 passed, 0 failed"
