"""What made console pages slow, held as pure logic: a row's keys are read without an exception per
lookup (and mean what Jinja means by them), and a calendar's index is built once however many threads
ask for it first."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest

from opsagent.sla import calendar as calendar_module
from opsagent.sla.calendar import Calendar
from opsagent.web.render import ConsoleEnvironment, environment


def test_a_row_key_reads_as_jinja_reads_it(tmp_path: Path) -> None:
    env = environment([tmp_path])
    assert isinstance(env, ConsoleEnvironment)
    page = env.from_string("{{ r.id }} {{ r.title }} {{ r.items is callable }} {{ r.sla.clock if r.sla else '-' }}")
    assert page.render(r={"id": 7, "title": "<b>", "items": "a key", "sla": {"clock": "response"}}) == (
        "7 &lt;b&gt; True response"  # a dict's own attributes win over keys of the same name, as in Jinja
    )
    assert page.render(r={"id": 8, "title": "t", "sla": None}) == "8 t True -"
    with pytest.raises(jinja2.UndefinedError, match="title"):
        page.render(r={"id": 9})  # a missing key is still an error (StrictUndefined)
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    row = {"id": 1, "title": "x", "sla": {"clock": "c"}}
    source = "{{ r.id }} {{ r.title }} {{ r.sla.clock }} {{ r.get('id') }} {{ r.keys() | list | length }}"
    assert env.from_string(source).render(r=row) == plain.from_string(source).render(r=row)

    class Obj:
        id = 3

    assert env.from_string("{{ o.id }}").render(o=Obj()) == "3"  # objects: attributes, as before


def test_functions_a_page_calls_get_what_jinja_gives_them(tmp_path: Path) -> None:
    env = environment([tmp_path])

    @jinja2.pass_context
    def language(context: jinja2.runtime.Context, suffix: str) -> str:
        return str(context["lang"]) + suffix

    class Shout:
        @jinja2.pass_environment
        def __call__(self, environment: jinja2.Environment, text: str) -> str:
            return f"{text.upper()}{environment is env}"

    def ended() -> str:
        raise StopIteration

    page = env.from_string("{% for x in [1] %}{{ t('a', b='c') }} {{ language('!') }} {{ shout('x') }}{% endfor %}")
    assert page.render(t=lambda a, b: a + b, language=language, shout=Shout(), lang="zh") == "ac zh! XTrue"
    with pytest.raises(jinja2.UndefinedError, match="StopIteration"):
        env.from_string("{{ ended() }}").render(ended=ended)


def test_threads_asking_for_a_new_calendar_build_its_index_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = calendar_module._Index

    class Counted(real):  # type: ignore[misc,valid-type]
        def __init__(self, cal: Calendar) -> None:
            built.append(1)
            super().__init__(cal)

    monkeypatch.setattr(calendar_module, "_Index", Counted)
    monkeypatch.setattr(calendar_module, "_INDEXES", {})
    hours = {d: ((time(9), time(17, 31)),) for d in range(5)}  # a calendar no other test builds
    start = threading.Barrier(6)
    found: list[float] = []

    def first_clock() -> None:
        cal = Calendar("speed", ZoneInfo("Asia/Shanghai"), hours)  # each request: its own policy object
        start.wait()
        found.append(cal.between(datetime(2026, 12, 7, 1, tzinfo=UTC), datetime(2026, 12, 8, 1, tzinfo=UTC)))

    threads = [threading.Thread(target=first_clock) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len(found) == 6 and len(set(found)) == 1
