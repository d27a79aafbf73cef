#!/usr/bin/env bash
# The test command (README): bash scripts/test.sh [pytest args...]   (default: -q -ra)
#
# Runs as root on a fresh Debian 12 with Python 3.11, and in CI (CI=true, no stdin):
#   1. installs the Debian packages the real-peer tests need (skipped when all are installed),
#   2. creates .venv at the repo root and installs opsagent with its `test` extra into it
#      (skipped when pyproject.toml has not changed since the last install),
#   3. runs .venv/bin/pytest with the given arguments and exits with pytest's code.
# Environment: PYTHON (interpreter for the venv, default python3),
#              OPSAGENT_FORCE_PIP=1 (reinstall into the venv even if nothing changed).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PIP_STAMP="$VENV/.opsagent-test-install"

# Debian packages the tests need. A new real peer adds its package here.
APT_PACKAGES=(
    ca-certificates
    python3-venv  # ensurepip for a machine whose python3 is Debian's
    postgresql    # tests/peers/postgres.py
    prometheus    # tests/peers/prometheus.py (prometheus + promtool)
    openssh-server  # tests/peers/sshd.py
    prometheus-alertmanager  # tests/peers/alertmanager.py
    mariadb-server  # tests/peers/mariadb.py
    redis-server    # tests/peers/redis.py (primary + replica)
    nginx           # tests/peers/nginx.py (stub_status, TLS endpoint)
    sudo  # tests/peers/sshd.py: sudoers drop-ins for the SSH sudo tests
    busybox  # tests/unit/test_ssh_watchdog.py: the SSH poll program and its watchdog under BusyBox ash
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0  # weasyprint (PDF reports)
    fonts-noto-cjk  # Chinese text in PDF reports
    poppler-utils   # pdftoppm/pdftotext: tests check rendered PDFs
    snmpd snmp      # tests/peers/snmp.py (net-snmp agent; snmpbulkwalk/snmptrap as reference clients)
    python3-gdbm    # snmpsim's index (dbm.gnu) in .venv-snmpsim (scripts/snmpsim-venv.sh)
    prometheus-snmp-exporter  # bench/bench_snmp.py peer
    dovecot-imapd  # tests/peers/dovecot.py (the desk's email channel: IMAP and IMAPS)
    chromium  # tests/e2e/test_console*.py: the web console in a real browser (Playwright, executable_path)
    slapd ldap-utils  # tests/peers/ldap.py (directory logins, group → role), tests/desk/test_desk_ldap.py (requester import)
)

log() { printf '[test.sh] %s\n' "$*" >&2; }
die() { printf '[test.sh] ERROR: %s\n' "$*" >&2; exit 1; }

# Print the packages among "$@" that dpkg does not report as installed.
missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || printf '%s\n' "$pkg"
    done
}

ensure_apt_packages() {
    command -v dpkg-query >/dev/null || die "dpkg-query not found: this script expects Debian 12"
    local missing=()
    mapfile -t missing < <(missing_packages "$@")
    if ((${#missing[@]} == 0)); then
        log "apt: already installed: $*"
        return 0
    fi
    ((EUID == 0)) || die "missing Debian packages: ${missing[*]} (run as root to install them)"
    log "apt: installing ${missing[*]}"
    # Package scripts must not start daemons on default ports: the tests start their own.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} == 0)) || die "apt-get did not install: ${missing[*]}"
}

ensure_venv() {
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python not found (set PYTHON=/path/to/python3.11)"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$python is $("$python" -V 2>&1); opsagent needs Python >= 3.11"
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "venv: creating $VENV with $(command -v "$python") ($("$python" -V 2>&1))"
        "$python" -m venv --clear "$VENV"
    fi
    local want
    want="$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [[ "${OPSAGENT_FORCE_PIP:-0}" != 1 && -f "$PIP_STAMP" && "$(cat "$PIP_STAMP")" == "$want" ]] \
        && "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("opsagent"); m.version("pytest")' \
            2>/dev/null; then
        log "venv: up to date (pyproject.toml unchanged)"
        return 0
    fi
    log "venv: pip install -e '.[test]'"
    rm -f "$PIP_STAMP"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT[test]"
    printf '%s\n' "$want" >"$PIP_STAMP"
}

main() {
    cd "$REPO_ROOT"
    ensure_apt_packages "${APT_PACKAGES[@]}"
    ensure_venv
    bash "$REPO_ROOT/scripts/snmpsim-venv.sh"  # snmpsim needs Debian's python (dbm.gnu)
    (($# > 0)) || set -- -q -ra
    log "pytest $*"
    exec "$VENV/bin/pytest" "$@"
}

# Run only when executed, so a test of this script can source it and call one function.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
