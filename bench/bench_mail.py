"""Intake of queued mail from a real Dovecot (IMAPS) through ``opsagent desk mail fetch`` (SQLite store):
every mail parsed, a requester looked up or recorded, a ticket opened with its ledger row, attachments
stored — printed beside the baseline of the same run: the same mails only fetched over IMAP and parsed.

    python bench/bench_mail.py [--mails 10000]

Goal (issue 21): 10,000 queued mails (mixed sizes, 10 % with attachments) in < 60 s on 2 cores, every one
exactly once. Needs root (the mails are written into the Maildir as the mail user) and dovecot-imapd.
"""

from __future__ import annotations

import argparse
import base64
import imaplib
import json
import os
import random
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from opsagent.desk.mailparse import parse  # noqa: E402
from tests.peers.dovecot import Dovecot, running_dovecot  # noqa: E402


def mails(n: int) -> list[bytes]:
    rnd = random.Random(21)
    out = []
    for i in range(n):
        body = ("打印机无法打印，请尽快处理。" * rnd.randint(1, 400)).encode("gbk")
        head = (f"From: user{i % 500}@corp.example\r\nTo: support@example.com\r\nSubject: 故障 {i}\r\n"
                f"Message-ID: <bench-{i}@corp.example>\r\nMIME-Version: 1.0\r\n")  # fmt: skip
        if i % 10 == 0:
            blob = base64.encodebytes(rnd.randbytes(rnd.randint(20_000, 200_000))).decode()
            out.append((head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                        "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
                       + body + (f"\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
                                 f"filename=r{i}.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{blob}--b--\r\n"
                                 ).encode())  # fmt: skip
        else:
            out.append((head + "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
                       .encode() + body)  # fmt: skip
    return out


def baseline(server: Dovecot) -> tuple[float, int]:
    """IMAP fetch + parse only, the same mails, 50 per FETCH."""
    started = time.perf_counter()
    ctx = ssl.create_default_context(cafile=str(server.cafile))
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.ssl_port, ssl_context=ctx)
    imap.login(server.user, server.password)
    imap.select("INBOX", readonly=True)
    uids = imap.uid("SEARCH", "ALL")[1][0].split()
    parsed = 0
    for start in range(0, len(uids), 50):
        _, data = imap.uid("FETCH", b",".join(uids[start : start + 50]).decode(), "(UID BODY.PEEK[])")
        parsed += sum(1 for item in data if isinstance(item, tuple) and parse(item[1]) is not None)
    imap.logout()
    return time.perf_counter() - started, parsed


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: the intake's own work, which a busy
    shared machine does not inflate the way it does the wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mails", type=int, default=10_000)
    args = ap.parse_args()
    with running_dovecot() as server, tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
        home = Path(tmp)
        server.deliver_many(mails(args.mails))
        load = f"{os.getloadavg()[0]:.1f}"
        cpu_before = time.process_time()
        base_s, base_n = baseline(server)
        base_cpu = time.process_time() - cpu_before
        (home / "opsagent.yaml").write_text(
            f"seed_inventory: []\ndesk_mail:\n  host: 127.0.0.1\n  port: {server.ssl_port}\n  cafile: {server.cafile}\n"
            f"  user: {server.user}\n  password: env:BENCH_IMAP_PW\n  address: support@example.com\n"
            f"  rate_limit: 1000000\n  batch: {args.mails}\n"
        )  # fmt: skip
        env = os.environ | {"OPSAGENT_HOME": str(home), "PYTHONPATH": str(ROOT), "BENCH_IMAP_PW": server.password}
        env.pop("OPSAGENT_STORE", None)
        env.pop("OPSAGENT_CONFIG", None)
        started, cpu0 = time.perf_counter(), _children_cpu()
        done = subprocess.run([sys.executable, "-m", "opsagent", "desk", "mail", "fetch", "-o", "json"], env=env,
                              capture_output=True, text=True)  # fmt: skip
        took, cpu = time.perf_counter() - started, _children_cpu() - cpu0
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        again = subprocess.run([sys.executable, "-m", "opsagent", "desk", "mail", "fetch", "-o", "json"], env=env,
                               capture_output=True, text=True, check=True)  # fmt: skip
        print(f"mails                      {args.mails}  ({os.cpu_count()} CPUs, load {load} → "
              f"{os.getloadavg()[0]:.1f})")  # fmt: skip
        print(f"baseline: IMAP fetch+parse {base_s:7.1f} s  ({base_n / base_s:7.0f} mails/s, {base_n} parsed; "
              f"{base_cpu:.1f} s CPU)")  # fmt: skip
        print(f"desk mail fetch (intake)   {took:7.1f} s  ({args.mails / took:7.0f} mails/s; {cpu:.1f} s CPU)  "
              "goal < 60 s for 10,000")  # fmt: skip
        print(f"first run: {json.dumps(json.loads(done.stdout), ensure_ascii=False)}")
        print(f"second run (nothing twice): {json.dumps(json.loads(again.stdout), ensure_ascii=False)}")


if __name__ == "__main__":
    main()
