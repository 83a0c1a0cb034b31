#!/usr/bin/env bash
# Validates docker-compose.yml with a real Compose parser (no engine needed), then what the parser
# does not check: every long-running service has a healthcheck, every paysync process a stop grace
# period long enough for a warm shutdown and the .env settings, every image a pinned tag, every
# depends_on a condition.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq docker-compose >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq docker-compose >/dev/null; }
  else
    echo "compose-check: docker-compose is missing (apt-get install docker-compose)" >&2; exit 1
  fi
fi
# env_file names .env, which a checkout does not have: check with the documented example.
made_env=""
if [ ! -e .env ]; then cp .env.example .env; made_env=1; fi
trap '[ -n "$made_env" ] && rm -f .env' EXIT
resolved="$(mktemp)"
trap '[ -n "$made_env" ] && rm -f .env; rm -f "$resolved"' EXIT
# Placeholders for the mandatory secrets: the check is about the file, not a deployment.
PAYSYNC_SECRET_KEY="${PAYSYNC_SECRET_KEY:-compose-check}" FLOWER_BASIC_AUTH="${FLOWER_BASIC_AUTH:-check:check}" \
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-compose-check}" REDIS_PASSWORD="${REDIS_PASSWORD:-compose-check}" \
  docker-compose -f docker-compose.yml --profile monitoring --profile sandbox config > "$resolved"
python3 - "$resolved" <<'PY'
import re
import sys

import yaml

MIN_GRACE = {"worker": 60, "other": 10}  # seconds
services = yaml.safe_load(open(sys.argv[1]))["services"]
problems = []


def seconds(text):
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms|us)", str(text)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


for name, svc in sorted(services.items()):
    image = svc.get("image", "")
    if ":" not in image or image.endswith(":latest"):
        problems.append(f"{name}: image {image!r} has no pinned tag")
    for dep, how in (svc.get("depends_on") or {}).items():
        if not isinstance(how, dict) or how.get("condition") not in ("service_healthy",
                                                                    "service_completed_successfully"):
            problems.append(f"{name}: depends_on {dep} without a health or completion condition")
        elif how["condition"] == "service_healthy" and not (services.get(dep) or {}).get("healthcheck"):
            problems.append(f"{name}: depends on {dep} being healthy, but {dep} has no healthcheck")
    if name == "migrate":
        continue
    check = svc.get("healthcheck") or {}
    if not check.get("test") or check.get("disable"):
        problems.append(f"{name}: no healthcheck")
    if image.startswith("paysync:"):
        grace = seconds(svc.get("stop_grace_period", "10s"))
        least = MIN_GRACE["worker" if name.startswith("worker") else "other"]
        if grace < least:
            problems.append(f"{name}: stop_grace_period {grace:.0f}s, under {least}s for a warm shutdown")
        env = svc.get("environment") or {}
        for needed in ("PAYSYNC_LOG_LEVEL", "PAYSYNC_LOG_FORMAT", "PAYSYNC_SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
            if needed not in env:
                problems.append(f"{name}: {needed} does not reach the container")
if problems:
    print("compose-check:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
PY
echo "compose-check: docker-compose.yml is valid (healthchecks, grace periods, pinned images)" >&2
