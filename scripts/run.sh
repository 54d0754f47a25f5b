#!/usr/bin/env bash
# Starts the bot on the embedded defaults: the action server, the e-mail outbox
# worker, the retention worker, the staff console and the Rasa server (web page + socket.io,
# WhatsApp webhook, REST for curl and tests), all on this machine with SQLite
# under var/. `scripts/run.sh shell` opens `rasa shell` instead of the server.
#
# What is exposed: the Rasa server and the action server listen on 127.0.0.1
# only (RASA_INTERFACE, ACTIONS_INTERFACE to change it); Rasa's HTTP API is off
# unless RASA_API_TOKEN is set, and then it needs that token; no CORS. Files under
# var/ are readable by this user only (umask 077).
#
# Ctrl-C, or a SIGTERM from a process supervisor, stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
RASA_PORT=${RASA_PORT:-5005}
RASA_INTERFACE=${RASA_INTERFACE:-127.0.0.1}
ACTIONS_PORT=${ACTIONS_PORT:-5055}  # as in endpoints.yml
ENDPOINTS=${BUZON_ENDPOINTS:-endpoints.yml}
CREDENTIALS=${BUZON_CREDENTIALS:-credentials.yml}
export SANIC_HOST="${ACTIONS_INTERFACE:-127.0.0.1}"  # where the action server listens
# credentials.yml reads these; empty means WhatsApp is off (its webhook answers 403).
export WHATSAPP_VERIFY_TOKEN="${WHATSAPP_VERIFY_TOKEN:-}" WHATSAPP_APP_SECRET="${WHATSAPP_APP_SECRET:-}" \
  WHATSAPP_ACCESS_TOKEN="${WHATSAPP_ACCESS_TOKEN:-}" WHATSAPP_PHONE_NUMBER_ID="${WHATSAPP_PHONE_NUMBER_ID:-}" \
  WHATSAPP_API_URL="${WHATSAPP_API_URL:-https://graph.facebook.com/v21.0}"
LOGS=${BUZON_VAR_DIR:-var}/log
mkdir -p "$LOGS"
chmod 700 "${BUZON_VAR_DIR:-var}" "$LOGS"

children=()
stop() {
  trap - EXIT INT TERM
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

.venv/bin/rasa run actions --port "$ACTIONS_PORT" --actions actions > "$LOGS/actions.log" 2>&1 &
children+=($!)
.venv/bin/python -m buzon.outbox_worker > "$LOGS/outbox.log" 2>&1 &
children+=($!)
.venv/bin/python -m persistence.retention --endpoints "$ENDPOINTS" > "$LOGS/retention.log" 2>&1 &
children+=($!)
export STAFF_HOST="${STAFF_HOST:-127.0.0.1}" STAFF_PORT="${STAFF_PORT:-5010}"
.venv/bin/python -m console > "$LOGS/console.log" 2>&1 &
children+=($!)

for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$ACTIONS_PORT/health" > /dev/null 2>&1 && break
  sleep 1
done

if [ "${1:-}" = "shell" ]; then
  .venv/bin/rasa shell --model models/current.tar.gz --endpoints "$ENDPOINTS"
  exit 0
fi

api=()
if [ -n "${RASA_API_TOKEN:-}" ]; then
  api=(--enable-api --auth-token "$RASA_API_TOKEN")
  api_note="API HTTP de Rasa: activa, con RASA_API_TOKEN"
else
  api_note="API HTTP de Rasa: desactivada (defina RASA_API_TOKEN para activarla con token)"
fi
if [ -n "${SMTP_HOST:-}" ]; then mail="por SMTP a ${SMTP_HOST}:${SMTP_PORT:-587}"; else mail="cifrados en var/mail/ (python -m buzon.outbox_worker --read-mail)"; fi
.venv/bin/rasa run --model models/current.tar.gz --endpoints "$ENDPOINTS" \
  --credentials "$CREDENTIALS" --interface "$RASA_INTERFACE" --port "$RASA_PORT" \
  "${api[@]}" --log-file "$LOGS/rasa.log" > "$LOGS/rasa-console.log" 2>&1 &
children+=($!)
rasa_pid=$!

echo "  starting the bot (about 20 seconds to load the model; logs in $LOGS/)"
ready=""
for _ in $(seq 1 180); do
  kill -0 "$rasa_pid" 2>/dev/null || break
  # The upload answers 503 until the model is loaded, then 400 to this empty form.
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$RASA_PORT/webhooks/web/upload" || true)
  if [ "$code" != "000" ] && [ "$code" != "503" ]; then ready=1; break; fi
  sleep 1
done
if [ -z "$ready" ]; then
  echo "  the Rasa server did not start; the end of $LOGS/rasa-console.log:"
  tail -n 25 "$LOGS/rasa-console.log"
  exit 1
fi

cat <<MSG

  Buzón de quejas y denuncias del IESS: listo en http://localhost:$RASA_PORT

  Página del buzón (chat y evidencia): http://localhost:$RASA_PORT/webhooks/web/
  Hable con el bot por REST:
    curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"yo","message":"hola"}'
  o en la terminal:  make shell
  Consola del personal: http://localhost:$STAFF_PORT/  (primer administrador: make staff-admin)
  Casos: ${DATABASE_URL:-SQLite en var/cases.db} · correos de confirmación $mail
  $api_note · escucha en $RASA_INTERFACE
  Registros: $LOGS/ · Detener: Ctrl-C

MSG
# Whichever process ends first (or a signal) ends them all.
wait -n
