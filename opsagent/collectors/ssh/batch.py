"""The shell program behind every poll, and its output cut back into checks.

The program is sent once per connection to a long-lived ``sh`` on stdin (so it works whatever the
login shell is: bash, zsh, csh, BusyBox ash). It defines one function that runs every check of the
profile, then reads one-line requests (``poll N``) and answers each with the checks' output and a
``done N`` line. A poll therefore costs one short line out and the output back: no channel open,
no exec, no re-sent script (the CPU of both ends goes to the checks, not to SSH bookkeeping).

Each check runs in a subshell with stdin from /dev/null, between marker lines that carry its exit
status. ``build_script`` is the same program as a one-shot script (for ``ssh host sh < script``).

A poll that runs past its time is killed on the host, not just abandoned (a ``df`` hung on a dead
NFS mount would otherwise stay, one more per poll). The request carries the seconds allowed
(``poll N SECONDS``); a watchdog subshell started with the poll sleeps that long (a second at a
time) and, unless the poll ended first (it is then stopped with its ``sleep``), prints a ``timeout`` marker and sends
SIGKILL to the shell's process group: the shell, every check and everything they started (sshd puts
each session in a process group of its own; the shell knows its group from ``/proc/$$/stat`` and
arms the watchdog only when that group is its session's own, so it never signals a group it does
not own). This is plain POSIX sh (``trap``, ``wait``, ``kill -KILL -PGID``) plus ``sleep``, so it
works the same in dash, bash and BusyBox ash; ``setsid``, ``timeout`` or ``pkill`` are not needed
(BusyBox's ``timeout`` kills only its direct child, ``setsid`` may be missing). The connection
survives; the collector starts a new shell on its next poll. The kill runs with the shell's own
rights: with ``sudo: true`` on the whole batch that is root; a check that gets root through its own
``sudo`` is a root process that a non-root shell cannot kill (sudo itself is).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from opsagent.collectors.ssh.options import Check

MARK = "@@opsagent-7f3a@@"
READY = f"{MARK} ready\n"
WANT_PASSWORD = f"{MARK} password\n"
SUDO_OK = f"{MARK} sudo-ok\n"  # first line of a sudo-wrapped check that sudo let through
FAILED = f"{MARK} failed\n"  # after the end line of a check that exited non-zero
TIMEOUT = f"{MARK} timeout\n"  # the watchdog killed the poll's processes
_END_PREFIX = f"\n{MARK} end "
_PASSWORD_VAR = "__opsagent_pw"


@dataclass(frozen=True, slots=True)
class CheckOutput:
    name: str
    output: str
    exit_status: int | None  # None: the batch ended before this check finished
    sudo_ok: bool = False  # the check ran under sudo (its SUDO_OK line came first)


def check_command(check: Check, *, as_root: bool, password: bool) -> str:
    """The command as the batch runs it. A ``sudo: true`` check goes through sudo unless the whole
    shell already is root; with a sudo password, the password goes to ``sudo -S`` from a shell
    variable through a pipe (a builtin ``printf``: never on a command line), and the command's own
    stdin is /dev/null, so it can never read the password even when sudo did not ask for it."""
    if not check.sudo or as_root:
        return check.command
    # The marker line tells "sudo refused" apart from "the command failed" without racing stderr.
    inner = shlex.quote(f"echo '{SUDO_OK.strip()}'\nexec </dev/null\n" + check.command)
    if password:
        return f"printf '%s\\n' \"${_PASSWORD_VAR}\" | sudo -S -p '' -- sh -c {inner}"
    return f"sudo -n -- sh -c {inner}"


def poll_function(checks: Sequence[Check], *, as_root: bool = False, password: bool = False) -> str:
    """``__opsagent_poll N``: every check, output buffered and written once, then ``done N``."""
    lines = [
        "export LC_ALL=C LANG=C",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH",
        "__opsagent_poll() {",
        *_WATCHDOG_START,
        # Collected in a variable and written once: one or two SSH packets instead of one per check.
        "__opsagent_out=$(",
    ]
    for check in checks:
        lines += [
            f"echo '{MARK} begin {check.name}'",
            "(",  # a subshell: a check's `exit`, `set` or `cd` cannot touch the batch or the next check
            check_command(check, as_root=as_root, password=password),
            ") </dev/null",
            "__opsagent_s=$?",
            f"printf '\\n{MARK} end {check.name} %s\\n' \"$__opsagent_s\"",
            f"[ \"$__opsagent_s\" = 0 ] || printf '%s' '{FAILED}'",
        ]
    lines += [
        f"echo '{MARK} checks'",
        ")",
        *_WATCHDOG_STOP,
        # stdout and stderr reach us as separate streams. When a check failed, its stderr (sudo's
        # complaint, the command's error) says why: this line then closes the poll's stderr, so
        # all of it is in before the poll is read. When every check succeeded nobody reads
        # stderr, and the line is left out: the answer is then one SSH packet (the output and
        # the done line go in ONE write), not two, and the reader wakes once.
        f"case $__opsagent_out in *'{FAILED.strip()}'*) printf '{MARK} stderr %s\\n' \"$1\" >&2 ;; esac",
        f'printf \'%s\\n{MARK} done %s\\n\' "$__opsagent_out" "$1"',
        "}",
    ]
    return "\n".join(lines) + "\n"


def _watchdog_start(seconds: str) -> tuple[str, ...]:
    """Start the watchdog of one poll or script (``seconds``: a shell word; no watchdog unless it
    is a positive whole number and the shell has a process group of its own). It sleeps one
    second at a time: stopping it kills the ``sleep`` it waits for, and a stop that lands between
    a ``sleep``'s start and the shell noting its pid leaves that ``sleep`` for a second at most."""
    return (
        "__opsagent_wd=",
        f'case {seconds} in ""|0|*[!0-9]*) ;; *)',
        '  if [ -n "${__opsagent_g:-}" ]; then',
        "    (",
        "      __opsagent_sl=",
        "      trap 'kill \"$__opsagent_sl\" 2>/dev/null; exit 0' TERM",
        f"      __opsagent_left={seconds}",
        '      while [ "$__opsagent_left" -gt 0 ]; do',
        "        sleep 1 </dev/null >/dev/null 2>&1 &",
        "        __opsagent_sl=$!",
        '        wait "$__opsagent_sl" || exit 0',
        "        __opsagent_left=$((__opsagent_left - 1))",
        "      done",
        f"      printf '\\n%s' '{TIMEOUT}'",
        '      kill -KILL -"$__opsagent_g"',
        "    ) </dev/null 2>/dev/null &",
        "    __opsagent_wd=$!",
        "  fi ;;",
        "esac",
    )


_WATCHDOG_START = _watchdog_start('"${2:-}"')  # the poll function's second argument
# A stop that lands before the watchdog has set its TERM trap kills it by the signal, and dash then
# reports "Terminated" on the shell's stderr (half the time for a quick step): the braces silence it.
_WATCHDOG_STOP = ('if [ -n "$__opsagent_wd" ]; then { kill "$__opsagent_wd"; wait "$__opsagent_wd"; } 2>/dev/null; fi',)
# The shell's process group, when it is its session's own group (sshd's session): the watchdog's
# target. Fields after the command name in /proc/PID/stat: state ppid pgrp session ...
_OWN_GROUP = (
    "__opsagent_g=",
    "if IFS= read -r __opsagent_st </proc/$$/stat 2>/dev/null; then",
    "  set -- ${__opsagent_st##*) }",
    '  [ "$3" = "$4" ] && __opsagent_g=$3',
    "fi",
)


def build_program(checks: Sequence[Check], *, as_root: bool = False, password: bool = False) -> str:
    """The long-lived program: the poll function, then (one compound command, so the shell has
    parsed all of it before the first request is sent) the optional password read and the loop."""
    head = poll_function(checks, as_root=as_root, password=password)
    loop = [
        "{",
        *_OWN_GROUP,
        *([f"printf '%s' '{WANT_PASSWORD}'", f"IFS= read -r {_PASSWORD_VAR} || exit 0"] if password else []),
        f"printf '%s' '{READY}'",
        "while IFS= read -r __opsagent_req; do",
        "  case $__opsagent_req in",
        '    "poll "*) set -- ${__opsagent_req#poll }; __opsagent_poll "$1" "${2:-}" ;;',
        "    exit) exit 0 ;;",
        "  esac",
        "done",
        "}",
    ]
    return head + "\n".join(loop) + "\n"


def guarded_script(script: str, seconds: int) -> str:
    """``script`` (a runbook step's commands for ``sh``) under the same watchdog as a poll: past
    ``seconds`` it is killed on the host with everything it started. It runs in a subshell (an
    ``exit`` in it ends only the subshell), with the same exit status."""
    body = script if script.endswith("\n") else script + "\n"
    lines = [*_OWN_GROUP, *_watchdog_start(str(int(seconds))), "(", body + ")", "__opsagent_rc=$?", *_WATCHDOG_STOP]
    return "\n".join([*lines, 'exit "$__opsagent_rc"']) + "\n"


def build_script(checks: Sequence[Check]) -> str:
    """One-shot form: the same checks run once (``ssh host sh < script``)."""
    return poll_function(checks) + "__opsagent_poll 1\n"


@functools.lru_cache(maxsize=1024)
def _markers(name: str) -> tuple[str, str]:
    """A check's begin line and end-line prefix (built once, looked up on every poll)."""
    return f"{MARK} begin {name}\n", f"{_END_PREFIX}{name} "


def split_output(text: str, checks: Sequence[Check]) -> dict[str, CheckOutput]:
    """Each check's output (without the newline the end marker adds) and exit status."""
    out: dict[str, CheckOutput] = {}
    pos = 0
    for check in checks:
        begin, end_prefix = _markers(check.name)
        start = text.find(begin, pos)
        if start < 0:
            start = text.find(begin)  # out of order (a check printed a marker?): look everywhere
            if start < 0:
                continue
        body_start = start + len(begin)
        end = text.find(end_prefix, body_start)
        line_end = text.find("\n", end + len(end_prefix)) if end >= 0 else -1
        status = text[end + len(end_prefix) : line_end] if line_end >= 0 else ""
        if end < 0 or not status.lstrip("-").isdigit():
            out[check.name] = CheckOutput(check.name, text[body_start:], None)
            continue
        body, sudo_ok = text[body_start:end], False
        if body.startswith(SUDO_OK):
            body, sudo_ok = body[len(SUDO_OK) :], True
        out[check.name] = CheckOutput(check.name, body, int(status), sudo_ok)
        pos = line_end + 1
    return out
