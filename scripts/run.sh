#!/usr/bin/env bash
# Starts the bot on the embedded defaults: the action server, the e-mail outbox
# worker and the Rasa server (REST + socket.io channels, HTTP API, CORS), all on
# this machine with SQLite under var/. `scripts/run.sh shell` opens `rasa shell`
# instead of the server. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
RASA_PORT=${RASA_PORT:-5005}
# credentials.yml reads these; empty means WhatsApp is off (its webhook answers 403).
export WHATSAPP_VERIFY_TOKEN="${WHATSAPP_VERIFY_TOKEN:-}" WHATSAPP_APP_SECRET="${WHATSAPP_APP_SECRET:-}" \
  WHATSAPP_ACCESS_TOKEN="${WHATSAPP_ACCESS_TOKEN:-}" WHATSAPP_PHONE_NUMBER_ID="${WHATSAPP_PHONE_NUMBER_ID:-}" \
  WHATSAPP_API_URL="${WHATSAPP_API_URL:-https://graph.facebook.com/v21.0}"
ACTIONS_PORT=5055  # as in endpoints.yml
mkdir -p var/log

children=()
stop() { for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

.venv/bin/rasa run actions --port "$ACTIONS_PORT" --actions actions > var/log/actions.log 2>&1 &
children+=($!)
.venv/bin/python -m buzon.outbox > var/log/outbox.log 2>&1 &
children+=($!)

for _ in $(seq 1 60); do
  curl -fs "http://localhost:$ACTIONS_PORT/health" > /dev/null 2>&1 && break
  sleep 1
done

if [ "${1:-}" = "shell" ]; then
  .venv/bin/rasa shell --model models/current.tar.gz --endpoints endpoints.yml
  exit 0
fi

if [ -n "${SMTP_HOST:-}" ]; then mail="por SMTP a ${SMTP_HOST}:${SMTP_PORT:-587}"; else mail="como archivos .eml en var/mail/"; fi
cat <<MSG

  Buzón de quejas y denuncias del IESS: arrancando en http://localhost:$RASA_PORT
  (la primera vez tarda unos 20 segundos en cargar el modelo)

  Hable con el bot por REST:
    curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"yo","message":"hola"}'
  o en la terminal:  make shell
  Página del buzón (chat y evidencia): http://localhost:$RASA_PORT/webhooks/web/
  Casos: ${DATABASE_URL:-SQLite en var/cases.db} · correos de confirmación $mail
  Registros: var/log/ · Detener: Ctrl-C

MSG
.venv/bin/rasa run --model models/current.tar.gz --endpoints endpoints.yml \
  --credentials credentials.yml --enable-api --cors "*" --port "$RASA_PORT" \
  --log-file var/log/rasa.log
