#!/usr/bin/env bash
# Write a local .env with fresh secrets, once. Never committed (.gitignore).
set -euo pipefail
[ -f .env ] && exit 0
secret() { python3 -c 'import secrets; print(secrets.token_hex(20))'; }
sed -e "s|^TWILIO_AUTH_TOKEN=.*|TWILIO_AUTH_TOKEN=$(secret)|" \
    -e "s|^SECRET_KEY=.*|SECRET_KEY=$(secret)|" \
    -e "s|^DATABASE_URL=.*|DATABASE_URL=sqlite:///$(pwd)/instance/careline.db|" \
    .env.example > .env
echo "wrote .env with local secrets"
