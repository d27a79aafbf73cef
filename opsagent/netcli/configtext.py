"""Pure configuration text handling: volatile lines dropped, secrets masked, unified diffs.

Masking follows what Oxidized hides (``remove_secret``) for IOS, VRP and Comware: passwords,
enable secrets, SNMP communities and keys, pre-shared and TACACS/RADIUS keys, crypto key blobs.
Stored versions are masked; the hash of the raw text still records a secret-only change.
"""

from __future__ import annotations

import difflib
import hashlib
import re

MASK = "<removed>"
_VOLATILE = (
    re.compile(r"^! (Last configuration change|NVRAM config last updated|No configuration change) .*$"),
    re.compile(r"^!Last configuration was (?:updated|saved) at .*$"),  # Huawei VRP's header
    re.compile(r"^Current configuration : \d+ bytes$"),
    re.compile(r"^Building configuration\.\.\.$"),
    re.compile(r"^ntp clock-period \d+$"),
    re.compile(r"^#?\s*(Time|Current time)[: ].*\d{2}:\d{2}:\d{2}.*$"),
)
# (pattern, replacement): the secret is group 2, kept context in groups 1 and 3
_SECRETS = (
    re.compile(r"^(\s*(?:enable )?(?:secret|password)(?: level \d+)?(?: \d)? )(\S+)(.*)$"),
    re.compile(r"^(\s*username \S+ .*?(?:secret|password)(?: \d)? )(\S+)(.*)$"),
    re.compile(r"^(\s*snmp-server community )(\S+)(.*)$"),
    re.compile(r"^(\s*snmp-server host \S+(?: version \S+)?(?: (?:auth|noauth|priv))? )(\S+)(.*)$"),
    re.compile(r"^(\s*snmp-agent community (?:read|write) (?:cipher |simple )?)(\S+)(.*)$"),
    re.compile(r"^(\s*snmp-agent usm-user .*?(?:authentication-mode|privacy-mode) \S+ (?:cipher )?)(\S+)(.*)$"),
    re.compile(r"^(\s*(?:tacacs-server|radius-server)(?: host \S+)? key(?: \d)? )(\S+)(.*)$"),
    re.compile(r"^(\s*key(?:-string)?(?: \d)? )(\S+)(.*)$"),
    re.compile(r"^(\s*(?:pre-shared-key|crypto isakmp key)(?: \d)? )(\S+)(.*)$"),
    re.compile(r"^(\s*(?:local-user \S+ )?password (?:cipher|simple|irreversible-cipher|hash) )(\S+)(.*)$"),
    re.compile(r"^(\s*(?:super password|set authentication password)(?: level \d+)? (?:cipher|simple) )(\S+)(.*)$"),
    re.compile(r"^(\s*(?:authentication-key|ospf authentication-key|md5) (?:\d+ )?(?:cipher |plain |md5 )?)(\S+)(.*)$"),
)
_CERT_START = re.compile(r"^\s*(certificate( self-signed| ca)? \S+|-----BEGIN)")
_CERT_END = re.compile(r"^\s*(quit|-----END.*)$")


def normalise(text: str) -> str:
    """Line endings unified, volatile lines (timestamps, byte counts) removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = [line.rstrip() for line in lines if not any(rx.match(line.strip()) for rx in _VOLATILE)]
    return "\n".join(kept).strip("\n") + "\n"


def mask(text: str) -> str:
    out: list[str] = []
    in_cert = False
    for line in text.split("\n"):
        if in_cert:
            if _CERT_END.match(line):
                in_cert = False
                out.append(line)
            continue
        if _CERT_START.match(line):
            in_cert = True
            out.append(line)
            out.append("  " + MASK)
            continue
        for rx in _SECRETS:
            m = rx.match(line)
            if m:
                line = f"{m.group(1)}{MASK}{m.group(3)}"
                break
        out.append(line)
    return "\n".join(out)


def digest(raw: str) -> str:
    return hashlib.sha256(normalise(raw).encode()).hexdigest()


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), fromfile=old_name, tofile=new_name))
