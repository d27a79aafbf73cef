"""SNMP poll worker processes: the polls (requests, decoding, conversion to samples) run in
``workers`` child processes, each with its own asyncio loop and :class:`SnmpCollector`, so a
fleet uses more than one core; the serve process keeps the registry, scrapes and alerts.

A device always goes to the same worker (a hash of its name), so its cached tables and adapted
max-repetitions stay there. A target's asset and spec are sent once (then its name alone, while the
poll job polls with the same objects). Results come back as pickles over the worker's stdout; a device
whose series are those of its last poll (the usual case) sends only its values, and the parent hands
them on with the series it kept (:class:`~opsagent.collectors.base.Revalued`). Credentials are never sent: the worker
resolves the asset's references itself (it inherits the environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pickle
import struct
import sys
import zlib
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from opsagent.collectors.base import CollectResult, Outcome, Revalued
from opsagent.collectors.base import Signature as SampleSignature
from opsagent.inventory.model import Asset, CollectorSpec

log = logging.getLogger(__name__)
_HEADER = struct.Struct("!I")
_PIPE_BYTES = 1 << 20  # the results channel's kernel buffer (Linux' default pipe-max-size)
_SERIES, _VALUE = itemgetter(0, 1, 3), itemgetter(2)  # Sample fields (name, labels, kind) and value


def _frame(obj: object) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class _Worker:
    """One child process and the polls it has in flight."""

    def __init__(self, roots: list[Path] | None) -> None:
        self.roots = roots
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.signatures: dict[str, SampleSignature] = {}  # asset -> (name, labels, kind) of its last full result
        # asset -> the (asset, spec) objects this worker was last sent for it: while a poll job polls
        # with the same two objects (until the inventory or the content changes), only the name goes
        self.sent: dict[str, tuple[Asset, CollectorSpec]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None

    async def ensure(self) -> asyncio.subprocess.Process:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.proc is None or self.proc.returncode is not None:
                roots = [str(r) for r in self.roots] if self.roots is not None else None
                self.proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", "from opsagent.collectors.snmp.workers import main; main()", repr(roots),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                self.signatures.clear()
                self.sent.clear()
                self._reader = asyncio.create_task(self._read(self.proc))
        return self.proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                size = _HEADER.unpack(await proc.stdout.readexactly(_HEADER.size))[0]
                ident, (result, values) = pickle.loads(await proc.stdout.readexactly(size))
                # Bookkeeping here, not in the (cancellable) caller: the series kept must be those
                # the worker last sent, whoever still waits for this result.
                # The same series object as long as the series stay the same: the registry and the
                # history then know them by identity (no per-sample signature to build or compare),
                # and the samples themselves are built only if something else reads them.
                if values is None:
                    series = list(map(_SERIES, result.samples))
                    self.signatures[result.asset] = series
                    result.samples = Revalued(series, list(map(_VALUE, result.samples)), result.samples)
                else:
                    result.samples = Revalued(self.signatures[result.asset], values)
                future = self.pending.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(result)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.warning("snmp poll worker %s ended (code %s)", proc.pid, proc.returncode)
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("snmp poll worker ended"))
            self.pending.clear()

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            # Its pipes are closed now, while the loop runs: left to the garbage collector, they were
            # closed after serve's loop had ended, and "Event loop is closed" tracebacks ended its log.
            transport = getattr(self.proc, "_transport", None)  # (asyncio's Process keeps it private)
            if transport is not None:
                transport.close()


class WorkerPool:
    def __init__(self, count: int, roots: list[Path] | None) -> None:
        self.workers = [_Worker(roots) for _ in range(count)]
        self._next = 0

    async def collect(self, asset: Asset, spec: CollectorSpec) -> CollectResult:
        worker = self.workers[zlib.crc32(asset.name.encode()) % len(self.workers)]
        try:
            proc = await worker.ensure()
            self._next += 1
            ident = self._next
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            worker.pending[ident] = future
            assert proc.stdin is not None
            known = worker.sent.get(asset.name)
            if known is not None and known[0] is asset and known[1] is spec:
                proc.stdin.write(_frame((ident, asset.name)))
            else:  # pickling the spec (its profile's whole metric list) each poll was a third of our share
                worker.sent[asset.name] = (asset, spec)
                proc.stdin.write(_frame((ident, asset, spec)))
            await proc.stdin.drain()
            result: CollectResult = await future
        except (ConnectionError, OSError) as exc:
            return CollectResult.failure(asset.name, "snmp", Outcome.FAILED, "worker", f"snmp poll worker: {exc}")
        return result

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


# -- the child ---------------------------------------------------------------------------------
def _compact(result: CollectResult, last: dict[str, SampleSignature]) -> tuple[CollectResult, list[float] | None]:
    """The result, or (without its samples) the values alone when its series are the last ones sent."""
    signature = list(map(_SERIES, result.samples))  # (name, labels, kind) per sample, at C speed
    if last.get(result.asset) == signature:
        values = list(map(_VALUE, result.samples))
        result.samples = []
        return result, values
    last[result.asset] = signature
    return result, None


async def _child(roots: list[Path] | None, out: Any) -> None:
    from opsagent.collectors.snmp.collector import SnmpCollector
    from opsagent.gctune import tune_for_polling

    tune_for_polling()
    collector = SnmpCollector(roots)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    sent: dict[str, SampleSignature] = {}
    known: dict[str, tuple[Asset, CollectorSpec]] = {}  # asset -> what the parent last sent for it
    tasks: set[asyncio.Task[None]] = set()

    async def one(ident: int, asset: Asset, spec: CollectorSpec) -> None:
        result = await collector.collect(asset, spec, {})
        out.write(_frame((ident, _compact(result, sent))))
        out.flush()

    while True:
        try:
            size = _HEADER.unpack(await reader.readexactly(_HEADER.size))[0]
            request = pickle.loads(await reader.readexactly(size))
        except asyncio.IncompleteReadError:  # the parent closed our stdin: it is stopping
            return
        if len(request) == 2:  # (ident, asset name): the same asset and spec as last time
            ident, (asset, spec) = request[0], known[request[1]]
        else:
            ident, asset, spec = request
            known[asset.name] = (asset, spec)
        task = asyncio.create_task(one(ident, asset, spec))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def _protocol_out() -> Iterator[Any]:
    """Our stdout is the result channel: anything else printing goes to stderr instead."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # A result is ~16 KB (a 49-port IF-MIB): a default 64 KiB pipe fills with four while serve is
    # busy (a full scrape), and then the blocking write stalls every poll this worker has in flight.
    with contextlib.suppress(OSError):  # not a pipe, or above /proc/sys/fs/pipe-max-size
        fcntl.fcntl(channel.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    yield channel


def main() -> None:  # pragma: no cover - runs in the worker process
    """The worker process: ``python -c 'from opsagent.collectors.snmp.workers import main; main()' ROOTS``."""
    import ast

    given = ast.literal_eval(sys.argv[1]) if len(sys.argv) > 1 else None
    for channel in _protocol_out():
        asyncio.run(_child([Path(r) for r in given] if given is not None else None, channel))
