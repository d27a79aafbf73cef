"""``opsagent kb search|list|show|add|edit|publish|retire|import|export|from-incident|link|vote|versions|reindex``:
the knowledge base (知识库)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from opsagent.app import App, actor
from opsagent.cli.common import EXIT_FAILED, local_time, output_option, print_json, print_table, short
from opsagent.config import AgentConfig
from opsagent.errors import UsageError
from opsagent.i18n.catalog import tr
from opsagent.knowledge import folder, harvest, index, repo, suggest
from opsagent.knowledge.model import LANGS, STATES, VISIBILITIES, Change, KnowledgeError, Meta, Translation
from opsagent.knowledge.search import Filters, search


def _json(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_json(v) for v in data]
    return data.isoformat() if hasattr(data, "isoformat") else data


def _body(body: str | None, body_file: Path | None) -> str | None:
    if body is not None and body_file is not None:
        raise click.UsageError(tr("give --body or --body-file, not both"))
    if body_file is None:
        return body
    if str(body_file) == "-":
        return sys.stdin.read()
    try:
        return body_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(tr("--body-file {path}: {error}", path=body_file, error=exc)) from None


def _valid(model: Any, **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False, include_url=False)
        )
        raise UsageError(problems) from None


def _missing(article_id: int) -> click.exceptions.Exit:
    click.echo(tr("no article #{id}", id=article_id), err=True)
    return click.exceptions.Exit(EXIT_FAILED)


def _call(fn: Any, *args: Any) -> Any:
    """Run a repository call; a missing article or incident is exit 1 with a message."""
    try:
        return fn(*args)
    except KnowledgeError as exc:
        click.echo(tr("error: {error}", error=exc), err=True)
        raise click.exceptions.Exit(EXIT_FAILED) from None


@click.group()
def kb() -> None:
    """The knowledge base (知识库): articles in Chinese and English, searchable, suggested to incidents."""


@kb.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(["all", "article", "incident"]), default="all", show_default=True)
@click.option("--lang", type=click.Choice(LANGS), help="Only articles in this language.")
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice(STATES), help="Article states (default: published)."
)
@click.option("--visibility", type=click.Choice(VISIBILITIES), help="requesters: only what requesters may read.")
@click.option("-n", "--limit", type=click.IntRange(1, 200), default=10, show_default=True)
@output_option
@click.pass_obj
def search_cmd(config: AgentConfig, query: tuple[str, ...], kind: str, lang: str | None, statuses: tuple[str, ...],
               visibility: str | None, limit: int, output: str) -> None:  # fmt: skip
    """Full-text search over articles and resolved incidents (Chinese and English), best first."""
    kinds = ("article", "incident") if kind == "all" else (kind,)
    filters = Filters(kinds=kinds, statuses=statuses or ("published",), lang=lang, visibility=visibility)
    with App(config) as app:
        hits = search(app.store, " ".join(query), filters, limit)
    if output == "json":
        print_json([h.as_dict() for h in hits])
        return
    print_table(
        None,
        ["kind", "#", "lang", "title", "snippet"],
        ((h.kind, h.ref, h.lang, short(h.title, 50), h.snippet.text) for h in hits),
    )


@kb.command("list")
@click.option("--status", type=click.Choice(STATES))
@click.option("-n", "--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@output_option
@click.pass_obj
def list_cmd(config: AgentConfig, status: str | None, limit: int, output: str) -> None:
    """Articles, newest first."""
    with App(config) as app:
        rows = repo.list_articles(app.store, status, limit)
    if output == "json":
        print_json(_json(rows))
        return
    print_table(
        None,
        ["#", "key", "status", "visibility", "category", "title", "v", "views", "+", "-", "updated"],
        (
            (r["id"], r["key"], r["status"], r["visibility"], r["category"],
             short(repo.title_of({k: {"title": v} for k, v in r["titles"].items()}, config.lang), 50),
             r["version"], r["views"], r["helpful"], r["not_helpful"], local_time(r["updated_at"]))
            for r in rows
        ),
    )  # fmt: skip


@kb.command()
@click.argument("article_id", type=int)
@click.option("--lang", type=click.Choice(LANGS), help="The translation to show (default: every one).")
@output_option
@click.pass_obj
def show(config: AgentConfig, article_id: int, lang: str | None, output: str) -> None:
    """One article (counts a view)."""
    with App(config) as app:
        found = repo.get(app.store, article_id)
        if found is None:
            raise _missing(article_id)
        repo.count_view(app.store, article_id)
    if output == "json":
        print_json(_json(found))
        return
    fields = ["key", "status", "visibility", "category", "tags", "alerts", "asset_kinds", "asset_groups", "runbooks",
              "incidents", "version", "views", "helpful", "not_helpful", "source_incident", "created_by",
              "updated_by"]  # fmt: skip
    rows = [(f, ", ".join(map(str, found[f])) if isinstance(found[f], list) else found[f]) for f in fields]
    rows += [("updated_at", local_time(found["updated_at"]))]
    print_table(tr("article #{id}", id=article_id), ["field", "value"], rows)
    for code, translation in found["translations"].items():
        if lang in (None, code):
            click.echo(f"\n[{code}] {translation['title']}\n\n{translation['body'].rstrip()}")


_link_options = [
    click.option("--category", help="Category, e.g. 打印机 or network."),
    click.option("--tag", "tags", multiple=True, help="A tag (repeatable)."),
    click.option("--alert", "alerts", multiple=True, help="An alert name this article answers (repeatable)."),
    click.option("--asset-kind", "asset_kinds", multiple=True, help="host, network, database… (repeatable)"),
    click.option("--asset-group", "asset_groups", multiple=True, help="An inventory group (repeatable)."),
    click.option("--runbook", "runbooks", multiple=True, help="A runbook that fixes it (repeatable)."),
    click.option("--incident", "incidents", multiple=True, type=click.IntRange(1), help="An incident id (repeatable)."),
    click.option("--visibility", type=click.Choice(VISIBILITIES)),
]


def _with_links(command: Any) -> Any:
    for option in reversed(_link_options):
        command = option(command)
    return command


@kb.command()
@click.option("--title", required=True)
@click.option("--body", help="Markdown text.")
@click.option("--body-file", type=click.Path(path_type=Path, dir_okay=False), help="Markdown file (- for stdin).")
@click.option("--lang", type=click.Choice(LANGS), help="Language of this text (default: the agent's language).")
@click.option("--key", help="A stable name (default kb-<id>); the file name on export.")
@click.option("--publish", is_flag=True, help="Publish at once (default: a draft).")
@_with_links
@output_option
@click.pass_obj
def add(config: AgentConfig, /, title: str, body: str | None, body_file: Path | None, lang: str | None, key: str | None,
        publish: bool, output: str, **links: Any) -> None:  # fmt: skip
    """Write a new article."""
    values = {k: list(v) for k, v in links.items() if isinstance(v, tuple)}
    values |= {k: v for k, v in links.items() if not isinstance(v, tuple) and v is not None}
    meta = _valid(Meta, key=key, status="published" if publish else "draft", **values)
    translation = _valid(Translation, lang=lang or config.lang, title=title, body=_body(body, body_file) or "")
    with App(config) as app:
        article_id = _call(repo.create, app.store, meta, [translation], actor())
    _report(article_id, output, "created")


def _report(article_id: int, output: str, what: str, said: str | None = None) -> None:
    """``what`` for scripts (JSON, English); ``said`` for people (default: ``what`` translated)."""
    if output == "json":
        print_json({"id": article_id, "result": what})
    else:
        click.echo(tr("article #{id}: {what}", id=article_id, what=said if said is not None else tr(what)))


@kb.command()
@click.argument("article_id", type=int)
@click.option("--lang", type=click.Choice(LANGS), help="The translation to change or add.")
@click.option("--title")
@click.option("--body")
@click.option("--body-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-m", "--note", default="", help="What changed (kept with the version).")
@_with_links
@output_option
@click.pass_obj
def edit(config: AgentConfig, /, article_id: int, lang: str | None, title: str | None, body: str | None,
         body_file: Path | None, note: str, output: str, **links: Any) -> None:  # fmt: skip
    """Change an article or add a translation; every edit is kept as a version. List options replace the list."""
    values = {k: list(v) for k, v in links.items() if isinstance(v, tuple) and v}
    values |= {k: v for k, v in links.items() if not isinstance(v, tuple) and v is not None}
    change = _valid(Change, lang=lang, title=title, body=_body(body, body_file), note=note, **values)
    with App(config) as app:
        version = _call(repo.edit, app.store, article_id, change, actor())
    if version:
        _report(article_id, output, f"version {version}", tr("version {version}", version=version))
    else:
        _report(article_id, output, "unchanged")


def _status_command(name: str, status: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    @click.argument("article_id", type=int)
    @click.option("-m", "--note", default="")
    @output_option
    @click.pass_obj
    def command(config: AgentConfig, article_id: int, note: str, output: str) -> None:
        with App(config) as app:
            version = _call(repo.set_status, app.store, article_id, status, actor(), note)
        if version:
            said = tr("{status} (version {version})", status=tr(status), version=version)
            _report(article_id, output, f"{status} (version {version})", said)
        else:
            _report(article_id, output, f"already {status}", tr("already {status}", status=tr(status)))

    return command


kb.add_command(_status_command("publish", "published", "Publish: searchable and suggested to incidents."))
kb.add_command(_status_command("retire", "retired", "Retire: kept with its versions, no longer found or suggested."))
kb.add_command(_status_command("draft", "draft", "Back to draft."))


@kb.command()
@click.argument("article_id", type=int)
@output_option
@click.pass_obj
def versions(config: AgentConfig, article_id: int, output: str) -> None:
    """Every version of an article: who changed it and when."""
    with App(config) as app:
        rows = repo.versions(app.store, article_id)
    if not rows:
        raise _missing(article_id)
    if output == "json":
        print_json(_json(rows))
        return
    print_table(
        tr("article #{id}", id=article_id),
        ["version", "lang", "status", "title", "author", "at", "note"],
        ((r["version"], r["lang"], r["meta"]["status"], short(r["title"], 50), r["author"], local_time(r["at"]),
          short(r["note"], 60)) for r in rows),
    )  # fmt: skip


@kb.command("import")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@output_option
@click.pass_obj
def import_cmd(config: AgentConfig, directory: Path, output: str) -> None:
    """Import a folder of Markdown files with front matter (<key>.<lang>.md); all or nothing."""
    with App(config) as app:
        counts = _call(folder.import_folder, app.store, directory, actor())
    if output == "json":
        print_json(counts)
    else:
        click.echo(", ".join(f"{n} {what}" for what, n in counts.items()))


@kb.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.pass_obj
def export_cmd(config: AgentConfig, directory: Path) -> None:
    """Write every article as Markdown files with front matter (<key>.<lang>.md)."""
    with App(config) as app:
        written = folder.export_folder(app.store, directory)
    click.echo(tr("wrote {n} file(s) to {path}", n=len(written), path=directory), err=True)


@kb.command("from-incident")
@click.argument("incident_id", type=int)
@click.option("--lang", type=click.Choice(LANGS), help="Language of the article (default: the agent's language).")
@output_option
@click.pass_obj
def from_incident(config: AgentConfig, incident_id: int, lang: str | None, output: str) -> None:
    """Publish as knowledge: a draft article from a resolved incident (symptom, cause, steps, links)."""
    with App(config) as app:
        article_id = _call(harvest.from_incident, app.store, incident_id, actor(), lang or config.lang)
    _report(
        article_id,
        output,
        f"draft written from incident #{incident_id} (opsagent kb publish {article_id})",
        tr("draft written from incident #{incident} (opsagent kb publish {id})", incident=incident_id, id=article_id),
    )


@kb.command()
@click.argument("article_id", type=int)
@click.argument("incident_id", type=int)
@output_option
@click.pass_obj
def link(config: AgentConfig, article_id: int, incident_id: int, output: str) -> None:
    """The article helped on an incident: link them (a suggestion counts as used)."""
    with App(config) as app:
        suggested = _call(suggest.link, app.store, article_id, incident_id, actor())
    what = f"linked to incident #{incident_id}" + (" (was suggested)" if suggested else "")
    said = tr("linked to incident #{incident}", incident=incident_id) + (tr(" (was suggested)") if suggested else "")
    _report(article_id, output, what, said)


@kb.command()
@click.argument("article_id", type=int)
@click.option("--helpful/--not-helpful", required=True)
@output_option
@click.pass_obj
def vote(config: AgentConfig, article_id: int, helpful: bool, output: str) -> None:
    """Was the article helpful?"""
    with App(config) as app:
        counts = _call(repo.vote, app.store, article_id, helpful, actor())
    if output == "json":
        print_json(counts)
    else:
        click.echo(
            tr(
                "article #{id}: {helpful} helpful, {not_helpful} not helpful",
                id=article_id,
                helpful=counts["helpful"],
                not_helpful=counts["not_helpful"],
            )
        )


@kb.command()
@click.pass_obj
def reindex(config: AgentConfig) -> None:
    """Rebuild the search index of every article and resolved incident."""
    with App(config) as app:
        count = index.rebuild(app.store)
    click.echo(tr("reindexed; {n} incident(s)", n=count))


@kb.command("report")
@click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True, help="Tickets opened since.")
@click.option("--min", "min_tickets", type=click.IntRange(2, 10_000), default=3, show_default=True,
              help="Tickets that make a problem frequent.")  # fmt: skip
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@output_option
@click.pass_obj
def report_cmd(config: AgentConfig, days: int, min_tickets: int, limit: int, output: str) -> None:
    """The most-used articles (suggestions used, votes, views) and the frequent problems no article covers."""
    from datetime import timedelta

    from opsagent.knowledge import usage
    from opsagent.store.engine import now

    with App(config) as app:
        data = usage.report(app.store, now() - timedelta(days=days), min_tickets, limit, config.lang)
    if output == "json":
        print_json(data)
        return
    print_table(
        "most-used articles",
        ["#", "key", "title", "used", "suggested", "+", "-", "views"],
        ((r["id"], r["key"], short(r["title"], 50), r["used"], r["suggested"], r["helpful"], r["not_helpful"],
          r["views"]) for r in data["articles"]),
    )  # fmt: skip
    print_table(
        "frequent problems with no article",
        ["kind", "alert / category", "group", "tickets", "incidents", "title"],
        ((g["kind"], g.get("alertname") or g.get("category"), g.get("asset_group", ""), g["count"],
          ",".join(map(str, g["incidents"])), short(g["title"], 50)) for g in data["uncovered"]),
    )  # fmt: skip
