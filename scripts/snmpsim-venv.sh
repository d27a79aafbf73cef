#!/usr/bin/env bash
# snmpsim (the SNMP simulator serving recordings of real devices for tests and bench) runs from its
# own venv made with Debian's /usr/bin/python3: pyenv's Python lacks dbm.gnu, and snmpsim then
# falls back to dbm.dumb and builds ~1 GB of index per device. Idempotent.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv-snmpsim"
if [[ -x "$VENV/bin/snmpsim-command-responder" ]] && "$VENV/bin/python" -c 'import dbm.gnu, snmpsim_data' 2>/dev/null; then
    exit 0
fi
/usr/bin/python3 -m venv --clear "$VENV"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q "snmpsim>=1.1,<2" "snmpsim-data>=1.0,<2"
"$VENV/bin/python" -c 'import dbm.gnu, snmpsim_data'
