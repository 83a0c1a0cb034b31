#!/usr/bin/env bash
# Validates docker-compose.yml with a real Compose parser (no engine needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq docker-compose >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq docker-compose >/dev/null; }
  else
    echo "compose-check: docker-compose is missing (apt-get install docker-compose)" >&2; exit 1
  fi
fi
# Placeholders for the mandatory secrets: the check is about the file, not a deployment.
PAYSYNC_SECRET_KEY="${PAYSYNC_SECRET_KEY:-compose-check}" FLOWER_BASIC_AUTH="${FLOWER_BASIC_AUTH:-check:check}" \
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-compose-check}" REDIS_PASSWORD="${REDIS_PASSWORD:-compose-check}" \
  docker-compose -f docker-compose.yml config -q
echo "compose-check: docker-compose.yml is valid" >&2
