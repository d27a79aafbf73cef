"""A yes/no question at the terminal, answered on the event loop.

Read from the stdin file descriptor with ``loop.add_reader`` rather than ``input()`` in a thread:
a run interrupted at the prompt (Ctrl-C, SIGTERM) just cancels the read, and no thread is left
blocked on stdin to hold up or abort the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import os

import click

from opsagent.i18n.catalog import tr

YES = ("y", "yes")
NO = ("", "n", "no")


async def read_line(fd: int) -> str | None:
    """One line from ``fd`` (a terminal in canonical mode); None at end of input."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str | None] = loop.create_future()
    buf = bytearray()

    def readable() -> None:
        if line.done():
            return
        data = os.read(fd, 4096)
        if not data:
            line.set_result(None)
            return
        buf.extend(data)
        if b"\n" in buf:
            line.set_result(buf.split(b"\n", 1)[0].decode("utf-8", "replace"))

    loop.add_reader(fd, readable)
    try:
        return await line
    finally:
        loop.remove_reader(fd)


async def confirm(text: str, fd: int) -> bool:
    """``text [y/N]: `` on stderr until the answer is yes or no; no (and end of input) by default."""
    while True:
        click.echo(tr("{question} [y/N]: ", question=text), nl=False, err=True)
        answer = await read_line(fd)
        if answer is None:
            click.echo(err=True)
            return False
        if answer.strip().lower() in YES:
            return True
        if answer.strip().lower() in NO:
            return False
        click.echo(tr("Error: invalid input"), err=True)
