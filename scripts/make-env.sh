#!/usr/bin/env bash
# Write a local .env with fresh secrets, once. Never committed (.gitignore).
set -euo pipefail
[ -f .env ] && exit 0
secret() { python3 -c 'import secrets; print(secrets.token_hex(20))'; }
# A Fernet key: 32 random bytes, url-safe base64 (what `careline keys generate` prints).
data_key() { python3 -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'; }
sed -e "s|^TWILIO_AUTH_TOKEN=.*|TWILIO_AUTH_TOKEN=$(secret)|" \
    -e "s|^SECRET_KEY=.*|SECRET_KEY=$(secret)|" \
    -e "s|^METRICS_TOKEN=.*|METRICS_TOKEN=$(secret)|" \
    -e "s|^CARELINE_DATA_KEY=.*|CARELINE_DATA_KEY=$(data_key)|" \
    -e "s|^DATABASE_URL=.*|DATABASE_URL=sqlite:///$(pwd)/instance/careline.db|" \
    -e "s|^CARELINE_ENV=.*|CARELINE_ENV=development|" \
    .env.example > .env
# Careline runs as production unless told otherwise (core/config.py): this machine's Careline is development's.
grep -q '^CARELINE_ENV=' .env || echo "CARELINE_ENV=development" >> .env
echo "wrote .env with local secrets"
