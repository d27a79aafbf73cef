"""One shell script per poll (every check of the profile), and its output cut back into checks.

The script is fed to ``sh`` on stdin, so it works whatever the login shell is (bash, zsh, csh,
BusyBox ash). Each check runs with stdin from /dev/null (it must not eat the rest of the script)
between marker lines that carry its exit status.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from opsagent.collectors.ssh.options import Check

MARK = "@@opsagent-7f3a@@"
_END = re.compile(rf"\n{MARK} end (?P<name>[a-z0-9_]+) (?P<rc>-?\d+)\n")


@dataclass(frozen=True, slots=True)
class CheckOutput:
    name: str
    output: str
    exit_status: int | None  # None: the batch ended before this check finished


def build_script(checks: Sequence[Check]) -> str:
    lines = ["export LC_ALL=C LANG=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"]
    # The checks' output is collected in a variable and written once at the end: one or two SSH
    # packets instead of one per check, which is most of the client's CPU per poll.
    lines.append("__opsagent_out=$(")
    for check in checks:
        command = f"sudo -n -- sh -c {shlex.quote(check.command)}" if check.sudo else check.command
        lines += [
            f"echo '{MARK} begin {check.name}'",
            "(",  # a subshell: a check's `exit`, `set` or `cd` cannot touch the batch or the next check
            command,
            ") </dev/null",
            f"printf '\\n{MARK} end {check.name} %s\\n' \"$?\"",
        ]
    lines += [f"echo '{MARK} done'", ")", "printf '%s\\n' \"$__opsagent_out\""]
    return "\n".join(lines) + "\n"


def split_output(text: str, checks: Sequence[Check]) -> dict[str, CheckOutput]:
    """Each check's output (without the newline the end marker adds) and exit status."""
    out: dict[str, CheckOutput] = {}
    for check in checks:
        begin = f"{MARK} begin {check.name}\n"
        start = text.find(begin)
        if start < 0:
            continue
        body_start = start + len(begin)
        end = _END.search(text, body_start)
        if end is None or end["name"] != check.name:
            out[check.name] = CheckOutput(check.name, text[body_start:], None)
            continue
        out[check.name] = CheckOutput(check.name, text[body_start : end.start()], int(end["rc"]))
    return out
