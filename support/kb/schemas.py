"""Request and response shapes of the knowledge base."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ARTICLE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MUNICIPALITY_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"
# What a voice cannot read: links, markup, line breaks, list bullets.
_UNSPEAKABLE = re.compile(r"https?://|www\.|[<>\n\r\t•※]|\[|\]")


def _speakable(text: str) -> str:
    if _UNSPEAKABLE.search(text):
        raise ValueError("短い回答は音声で読み上げるため、URL・記号・改行を含めないでください")
    return text


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
AnswerShort = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_speakable),
]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
MunicipalityId = Annotated[str, StringConstraints(pattern=MUNICIPALITY_ID)]
EditableStatus = Literal["draft", "published"]
AnyStatus = Literal["draft", "published", "archived"]


class ArticleFields(BaseModel):
    """The fields an editor writes."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    answer_short: AnswerShort
    body: Body
    category: Category = ""
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    municipality_id: MunicipalityId | None = None


class ArticleCreate(ArticleFields):
    """A new article; the id is chosen by the server when not given."""

    id: Annotated[str, StringConstraints(pattern=ARTICLE_ID)] | None = None
    status: EditableStatus = "draft"


class ArticleUpdate(BaseModel):
    """A change to an article: only the given fields change; `version` is the one read."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    title: Title | None = None
    answer_short: AnswerShort | None = None
    body: Body | None = None
    category: Category | None = None
    tags: list[Tag] | None = Field(default=None, max_length=30)
    municipality_id: MunicipalityId | None = None
    clear_municipality: bool = False

    def changes(self) -> dict[str, Any]:
        """Return the fields to change, with the municipality cleared when asked."""
        fields = self.model_dump(
            exclude_unset=True, exclude={"version", "clear_municipality"}, exclude_none=True
        )
        if self.clear_municipality:
            fields["municipality_id"] = None
        return fields


class StatusChange(BaseModel):
    """Publish, withdraw to draft, or archive an article."""

    model_config = ConfigDict(extra="forbid")

    status: AnyStatus
    version: int = Field(ge=1)


class ImportRow(ArticleFields):
    """One line of the FAQ JSON-lines format (faq.jsonl)."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, StringConstraints(pattern=ARTICLE_ID)]
    municipality: MunicipalityId | None = None
    municipality_id: MunicipalityId | None = None
    status: AnyStatus = "published"
    published: bool | None = None

    def resolved_municipality(self) -> str | None:
        """Return the municipality, whichever of the two spellings the line used."""
        return self.municipality_id or self.municipality

    def resolved_status(self) -> str:
        """Return the status; a `published` flag wins over the status field."""
        if self.published is not None:
            return "published" if self.published else "draft"
        return self.status


class ArticleRead(BaseModel):
    """An article as editors see it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    answer_short: str
    body: str
    category: str
    tags: list[str]
    municipality_id: str | None
    status: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    published_at: datetime | None


class RevisionRead(BaseModel):
    """One entry of an article's history."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    action: str
    actor_username: str
    actor_role: str
    changed_at: datetime
    snapshot: dict[str, Any]


class ImportResult(BaseModel):
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


class SearchRequest(BaseModel):
    """A search question; sent in the body so that it never appears in a URL or a log."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(max_length=10_000)
    municipality: MunicipalityId | None = None
    top: int = Field(default=5, ge=1, le=20)


class SuggestRequest(BaseModel):
    """A ticket's or mail's subject and text, for the three best articles."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=2_000)
    text: str = Field(default="", max_length=200_000)
    municipality: MunicipalityId | None = None
    top: int = Field(default=3, ge=1, le=10)


class HitRead(BaseModel):
    """One search result."""

    id: str
    title: str
    answer_short: str
    score: float
    category: str
    municipality_id: str | None


class SearchResponse(BaseModel):
    """Search results, best first."""

    hits: list[HitRead]
