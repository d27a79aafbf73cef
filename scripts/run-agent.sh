#!/usr/bin/env bash
# The main job (README): bash scripts/run-agent.sh [opsagent serve args...]
#
# On a fresh Debian 12 with Python 3.11, as root: installs opsagent into .venv and runs
# `opsagent serve` on the embedded default — a SQLite store in $OPSAGENT_HOME (default
# ~/.opsagent) and an inventory holding this host — with /metrics on 127.0.0.1:9810.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PYTHON="${PYTHON:-python3}"

log() { printf '[run-agent] %s\n' "$*" >&2; }

# Runtime Debian packages: venv for Debian's python3; pango + CJK fonts for PDF reports (WeasyPrint).
APT_PACKAGES=(python3-venv libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -q update
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
log "installing opsagent into $VENV"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT"
"$VENV/bin/opsagent" check
exec "$VENV/bin/opsagent" serve "$@"
