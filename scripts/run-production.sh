#!/usr/bin/env bash
# The production topology on one machine (`make run-production`):
#
#   nginx (Debian's) ── public  PUBLIC_LISTEN   page, socket.io, WhatsApp webhook only
#                    ── staff   STAFF_LISTEN    the staff console (internal address)
#                    ── actions 127.0.0.1:ACTIONS_PROXY_PORT, for the Rasa servers only
#   2 Rasa servers (RASA_PORT_1, RASA_PORT_2) ── 2 action servers (ACTIONS_PORT_1, _2)
#   OUTBOX_WORKERS outbox workers, the retention worker, the console (CONSOLE_PORT)
#   PostgreSQL: cases and conversations; Redis: conversation locks, WhatsApp redelivery marks
#
# Every process finds its peers through these variables (deploy/nginx.conf.template,
# endpoints.production.yml, credentials.production.yml); secrets come only from the
# environment. With none of the required variables set, it is a one-machine demo:
# the local PostgreSQL (BUZON_DB_ADMIN_URL, default postgres@127.0.0.1:5432) and Redis
# (127.0.0.1:6379, db 2), secrets generated once into var/production/secrets.env
# (mode 600). With some set, every one must be: the script names the missing ones.
#
# Order: the deploy step first (deploy/prepare_databases.py: migrations as the owner,
# the conversations table, DML-only grants for the runtime role), then every process
# as the runtime role. A process that dies is started again after 2 s
# (var/log/production/supervisor.log says so); Ctrl-C or SIGTERM stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=.venv/bin/python
RASA=.venv/bin/rasa
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

VAR=$(realpath -m "${BUZON_VAR_DIR:-var}")
STATE=$VAR/production
LOGS=$VAR/log/production
RUN=$STATE/run
mkdir -p "$STATE" "$LOGS" "$RUN" "$STATE/nginx/tmp"
chmod 700 "$VAR" "$STATE" "$LOGS"

REQUIRED=(CASE_ENCRYPTION_KEY ACTION_SERVER_TOKEN DATABASE_URL DATABASE_MIGRATION_URL
  TRACKER_MIGRATION_URL TRACKER_DB_HOST TRACKER_DB_PORT TRACKER_DB_NAME TRACKER_DB_USER
  TRACKER_DB_PASSWORD REDIS_HOST REDIS_PORT REDIS_DB WHATSAPP_DEDUP_REDIS_URL SMTP_HOST)
given=() missing=()
for name in "${REQUIRED[@]}"; do
  if [ -n "${!name:-}" ]; then given+=("$name"); else missing+=("$name"); fi
done
if [ "${#given[@]}" -gt 0 ] && [ "${#missing[@]}" -gt 0 ]; then
  echo "run-production: refusing to start, not set: ${missing[*]}" >&2
  exit 2
fi

if [ "${#given[@]}" -eq 0 ]; then
  # The one-machine demo: generated secrets, kept private, the same at every start.
  secrets=$STATE/secrets.env
  if [ ! -s "$secrets" ]; then
    key=$($PY -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
    hex() { $PY -c 'import secrets; print(secrets.token_hex(24))'; }
    {
      echo "CASE_ENCRYPTION_KEY=$key"
      echo "ACTION_SERVER_TOKEN=$(hex)"
      echo "BUZON_OWNER_PASSWORD=$(hex)"
      echo "BUZON_RUNTIME_PASSWORD=$(hex)"
    } > "$secrets"
    echo "  demo: secrets generated in $secrets (readable by this user only)"
  fi
  chmod 600 "$secrets"
  set -a
  # shellcheck disable=SC1090
  . "$secrets"
  set +a
  pg=127.0.0.1:5432
  export BUZON_DB_ADMIN_URL=${BUZON_DB_ADMIN_URL:-postgresql://postgres@$pg/postgres}
  export DATABASE_MIGRATION_URL="postgresql://buzon_owner:$BUZON_OWNER_PASSWORD@$pg/buzon_cases"
  export DATABASE_URL="postgresql://buzon_app:$BUZON_RUNTIME_PASSWORD@$pg/buzon_cases"
  export TRACKER_MIGRATION_URL="postgresql://buzon_owner:$BUZON_OWNER_PASSWORD@$pg/buzon_conversations"
  export TRACKER_DB_HOST=127.0.0.1 TRACKER_DB_PORT=5432 TRACKER_DB_NAME=buzon_conversations
  export TRACKER_DB_USER=buzon_app TRACKER_DB_PASSWORD=$BUZON_RUNTIME_PASSWORD
  export REDIS_HOST=127.0.0.1 REDIS_PORT=6379 REDIS_DB=2
  export WHATSAPP_DEDUP_REDIS_URL=redis://127.0.0.1:6379/2
  unset BUZON_OWNER_PASSWORD BUZON_RUNTIME_PASSWORD
  demo=1
else
  demo=""
fi

export BUZON_PROFILE=production
# Socket.io answers relayed between the Rasa servers (channels/socketio_relay.py): the
# lock store's Redis unless told otherwise.
export SOCKETIO_REDIS_URL=${SOCKETIO_REDIS_URL:-redis://$REDIS_HOST:$REDIS_PORT/$REDIS_DB}
export WHATSAPP_VERIFY_TOKEN="${WHATSAPP_VERIFY_TOKEN:-}" WHATSAPP_APP_SECRET="${WHATSAPP_APP_SECRET:-}" \
  WHATSAPP_ACCESS_TOKEN="${WHATSAPP_ACCESS_TOKEN:-}" WHATSAPP_PHONE_NUMBER_ID="${WHATSAPP_PHONE_NUMBER_ID:-}" \
  WHATSAPP_API_URL="${WHATSAPP_API_URL:-https://graph.facebook.com/v21.0}"

# Where everything listens (the public listener is loopback for the demo; a server
# facing the Internet sets PUBLIC_LISTEN=443 with BUZON_TLS_CERT and BUZON_TLS_KEY).
export PUBLIC_LISTEN=${PUBLIC_LISTEN:-127.0.0.1:8080}
export STAFF_LISTEN=${STAFF_LISTEN:-127.0.0.1:8090}
export RASA_PORT_1=${RASA_PORT_1:-5105} RASA_PORT_2=${RASA_PORT_2:-5106}
export ACTIONS_PORT_1=${ACTIONS_PORT_1:-5155} ACTIONS_PORT_2=${ACTIONS_PORT_2:-5156}
export ACTIONS_PROXY_PORT=${ACTIONS_PROXY_PORT:-5150}
export ACTIONS_PROXY_LISTEN=127.0.0.1:$ACTIONS_PROXY_PORT
export ACTION_ENDPOINT_URL=http://127.0.0.1:$ACTIONS_PROXY_PORT/webhook
export CONSOLE_PORT=${CONSOLE_PORT:-5111}
export STAFF_PROXY_ADDRESS=${STAFF_PROXY_ADDRESS:-127.0.0.2}
OUTBOX_WORKERS=${OUTBOX_WORKERS:-2}
OUTBOX_INTERVAL=${OUTBOX_INTERVAL:-10}
export NGINX_DIR=$STATE/nginx LOG_DIR=$LOGS
if [ -n "${BUZON_TLS_CERT:-}" ] && [ -n "${BUZON_TLS_KEY:-}" ]; then
  PUBLIC_LISTEN="$PUBLIC_LISTEN ssl"
  export PUBLIC_TLS="ssl_certificate $BUZON_TLS_CERT; ssl_certificate_key $BUZON_TLS_KEY; ssl_protocols TLSv1.2 TLSv1.3;"
  export HSTS_HEADER='add_header Strict-Transport-Security "max-age=31536000" always;'
  scheme=https
else
  export PUBLIC_TLS="" HSTS_HEADER=""
  scheme=http
fi
if [ "$(id -u)" = 0 ]; then
  # nginx's workers drop root; they only write the request-body buffers.
  export NGINX_USER_DIRECTIVE="user www-data;"
  chown -R www-data "$STATE/nginx/tmp" 2>/dev/null || NGINX_USER_DIRECTIVE="user root;"
  chmod 711 "$VAR" "$STATE" "$STATE/nginx"
else
  export NGINX_USER_DIRECTIVE=""
fi

if [ ! -x "$NGINX" ]; then
  echo "run-production: nginx not found (make nginx installs Debian's)" >&2
  exit 2
fi

echo "  deploy step: migrations as the owner, grants for the runtime role"
$PY deploy/prepare_databases.py > "$LOGS/deploy.log" 2>&1 || {
  echo "run-production: the deploy step failed; the end of $LOGS/deploy.log:" >&2
  tail -n 20 "$LOGS/deploy.log" >&2
  exit 1
}
# The runtime processes never see the owner's credentials nor the administrator's.
unset DATABASE_MIGRATION_URL TRACKER_MIGRATION_URL BUZON_DB_ADMIN_URL

$PY deploy/render_config.py deploy/nginx.conf.template > "$STATE/nginx/nginx.conf"
nginx_conf=$STATE/nginx/nginx.conf
"$NGINX" -t -q -p "$STATE/nginx" -c "$nginx_conf" 2> "$LOGS/nginx-check.log" || {
  echo "run-production: nginx refuses its configuration:" >&2
  cat "$LOGS/nginx-check.log" >&2
  exit 1
}

supervisors=()
stopping=""
# Runs a command again whenever it ends, until the script stops; its pid in $RUN/NAME.pid.
supervise() {
  local name=$1
  shift
  (
    child=""
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM
    while true; do
      "$@" >> "$LOGS/$name.log" 2>&1 &
      child=$!
      echo "$child" > "$RUN/$name.pid"
      status=0
      wait "$child" || status=$?
      echo "$(date -u +%FT%TZ) $name (pid $child) ended with status $status; starting it again in 2 s" \
        >> "$LOGS/supervisor.log"
      sleep 2 &
      wait $! || true
    done
  ) &
  supervisors+=($!)
}
stop() {
  trap - EXIT INT TERM
  stopping=1
  for pid in "${supervisors[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

ready() {  # url, seconds, [POST | -k]: waits until the URL answers (not 000/502/503/504)
  local url=$1 seconds=$2 code
  for _ in $(seq 1 "$seconds"); do
    if [ "${3:-}" = "-k" ]; then
      code=$(curl -s -k -o /dev/null -w '%{http_code}' "$url" || true)
    else
      code=$(curl -s -o /dev/null -w '%{http_code}' -X "${3:-GET}" "$url" || true)
    fi
    case "$code" in 000 | 502 | 503 | 504) sleep 1 ;; *) return 0 ;; esac
  done
  return 1
}
fail() {
  echo "run-production: $1 did not start; the end of $LOGS/$2.log:" >&2
  tail -n 25 "$LOGS/$2.log" >&2
  exit 1
}

for i in 1 2; do
  port_var=ACTIONS_PORT_$i
  SANIC_HOST=127.0.0.1 supervise "actions-$i" \
    $RASA run actions --port "${!port_var}" --actions actions
done
for i in $(seq 1 "$OUTBOX_WORKERS"); do
  supervise "outbox-$i" $PY -m buzon.outbox_worker --interval "$OUTBOX_INTERVAL"
done
supervise retention $PY -m persistence.retention --endpoints endpoints.production.yml
STAFF_HOST=127.0.0.1 STAFF_PORT=$CONSOLE_PORT STAFF_TRUSTED_PROXY=$STAFF_PROXY_ADDRESS \
  supervise console $PY -m console
for i in 1 2; do
  port_var=RASA_PORT_$i
  supervise "rasa-$i" $RASA run --model models/current.tar.gz \
    --endpoints endpoints.production.yml --credentials credentials.production.yml \
    --interface 127.0.0.1 --port "${!port_var}"
done
supervise nginx "$NGINX" -p "$STATE/nginx" -c "$nginx_conf"

echo "  starting: 2 action servers, 2 Rasa servers (about 30 seconds), workers, console, nginx"
for i in 1 2; do
  port_var=ACTIONS_PORT_$i
  ready "http://127.0.0.1:${!port_var}/health" 120 || fail "action server $i" "actions-$i"
done
for i in 1 2; do
  port_var=RASA_PORT_$i
  # The upload answers 503 until the model is loaded, then 400 to this empty form.
  ready "http://127.0.0.1:${!port_var}/webhooks/web/upload" 240 POST || fail "Rasa server $i" "rasa-$i"
done
ready "http://127.0.0.1:$CONSOLE_PORT/login" 60 || fail "the console" console
public=${PUBLIC_LISTEN%% *}
# A listen of a port alone (443) is every address: checked, and shown, on this machine's.
case "$public" in *:*) ;; *) public="127.0.0.1:$public" ;; esac
# -k: the check reaches nginx by address, not by the certificate's name.
ready "$scheme://$public/webhooks/web/" 30 -k || fail nginx nginx-error

cat <<MSG

  Buzón de quejas y denuncias del IESS, topología de producción: lista

  Público (solo página, socket.io y webhook de WhatsApp): $scheme://$public/webhooks/web/
  Consola del personal (interna):                        http://$STAFF_LISTEN/
  2 servidores Rasa, 2 servidores de acciones, $OUTBOX_WORKERS trabajadores de correo, retención
  Casos y conversaciones: PostgreSQL (rol $TRACKER_DB_USER, solo filas) · bloqueos: Redis
  ${demo:+Demo: secretos en $STATE/secrets.env}
  Registros: $LOGS/ · Detener: Ctrl-C

MSG
# Runs until a signal; crashed processes are started again by their supervisor.
wait
