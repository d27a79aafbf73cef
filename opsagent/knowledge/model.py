"""What an article is made of, validated the same way from the CLI, the API and a folder of Markdown files."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from opsagent.errors import OpsAgentError

LANGS = ("zh", "en")
STATES = ("draft", "published", "retired")
VISIBILITIES = ("internal", "requesters")
# field of the models → kind of row in kb_links
LINK_FIELDS = {
    "alerts": "alert",
    "asset_kinds": "asset_kind",
    "asset_groups": "asset_group",
    "runbooks": "runbook",
    "incidents": "incident",
}
MAX_TITLE = 300
MAX_BODY = 200_000
MAX_LIST = 100

Lang = Literal["zh", "en"]
State = Literal["draft", "published", "retired"]
Visibility = Literal["internal", "requesters"]
_PRINTABLE = r"^[^\x00-\x1f]+$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=_PRINTABLE)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_PRINTABLE)]
# A key names the article across stores and is its file name on export: word characters, dot, dash.
Key = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\w[\w.-]*$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE, pattern=_PRINTABLE)]
Body = Annotated[str, StringConstraints(max_length=MAX_BODY, pattern=r"^[^\x00]*$")]  # no NUL: PostgreSQL refuses it
IncidentId = Annotated[int, Field(gt=0, le=2**63 - 1)]


class KnowledgeError(OpsAgentError):
    """No such article, or an action the article's state does not allow."""


class Links(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[Name] = Field(default_factory=list, max_length=MAX_LIST)
    asset_kinds: list[Name] = Field(default_factory=list, max_length=MAX_LIST)
    asset_groups: list[Name] = Field(default_factory=list, max_length=MAX_LIST)
    runbooks: list[Name] = Field(default_factory=list, max_length=MAX_LIST)
    incidents: list[IncidentId] = Field(default_factory=list, max_length=MAX_LIST)

    def rows(self) -> set[tuple[str, str]]:
        return {(LINK_FIELDS[f], str(v)) for f in LINK_FIELDS for v in getattr(self, f)}


class Meta(Links):
    """Everything of an article but its text (shared by its translations)."""

    key: Key | None = None
    status: State = "draft"
    visibility: Visibility = "internal"
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_LIST)


class Translation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lang: Lang
    title: Title
    body: Body = ""


class NewArticle(Meta):
    """``POST /api/v1/kb/articles``: the metadata and one or more translations."""

    translations: list[Translation] = Field(min_length=1, max_length=len(LANGS))


class Change(BaseModel):
    """An edit: only the fields given change (``POST /api/v1/kb/articles/{id}``)."""

    model_config = ConfigDict(extra="forbid")

    lang: Lang | None = None  # the translation to change or add (with title/body)
    title: Title | None = None
    body: Body | None = None
    visibility: Visibility | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_LIST)
    alerts: list[Name] | None = Field(default=None, max_length=MAX_LIST)
    asset_kinds: list[Name] | None = Field(default=None, max_length=MAX_LIST)
    asset_groups: list[Name] | None = Field(default=None, max_length=MAX_LIST)
    runbooks: list[Name] | None = Field(default=None, max_length=MAX_LIST)
    incidents: list[IncidentId] | None = Field(default=None, max_length=MAX_LIST)
    note: Annotated[str, StringConstraints(max_length=1000)] = ""
