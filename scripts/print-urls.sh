#!/usr/bin/env bash
# Tell the operator what to give Twilio, and how to try a call without it.
base="${PUBLIC_BASE_URL:-http://127.0.0.1:5000}"
cat <<TXT

Careline is starting on http://127.0.0.1:${PORT:-5000}
Give each practice number in the Twilio console (Phone Numbers > Configure > Voice):
  A call comes in:      ${base}/voice/incoming   (HTTP POST)
  Primary handler fails: ${base}/voice/fallback   (HTTP POST)
  Call status changes:  ${base}/voice/status     (HTTP POST)
PUBLIC_BASE_URL must be the https URL Twilio uses (a tunnel or your domain), or signatures will not match.

Try a call without Twilio, from another terminal:
  .venv/bin/careline simulate --to +13125550100 --press 12   (English, then leave a message)
TXT
