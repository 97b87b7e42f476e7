#!/usr/bin/env bash
# Installs the Debian packages the project needs and starts PostgreSQL and Redis when they are
# down. Idempotent: fast when everything is already there. Used by `npm start` and `npm test`
# with --best-effort (then it only warns where it cannot act, e.g. not root, no apt-get), and by
# .ci/run. --tests adds what only the tests need (chromium for the console's browser tests,
# prometheus for promtool, which checks and unit-tests the generated alert rules).
set -euo pipefail
best_effort=false
tests=false
for arg in "$@"; do
  case "$arg" in
    --best-effort) best_effort=true ;;
    --tests) tests=true ;;
    *) echo "usage: $0 [--best-effort] [--tests]" >&2; exit 2 ;;
  esac
done
can_admin() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
if $best_effort && ! can_admin; then
  command -v dpkg-query >/dev/null 2>&1 && ! /usr/bin/python3 -c 'import alembic' 2>/dev/null && \
    echo "warning: Debian's python3-alembic is not installed: runbooks that read alembic will fail (sudo bash scripts/ensure-services.sh)." >&2
  exit 0
fi

packages=(python3-alembic python3-sqlalchemy python3-psycopg2 python3-celery python3-redis python3-fastapi python3-uvicorn docker-compose postgresql-client redis-tools openssl)
$tests && packages+=(chromium prometheus)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "Starting PostgreSQL…"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis…"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
echo "Redis: $(redis-cli -h 127.0.0.1 -p 6379 ping)"
