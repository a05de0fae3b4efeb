"""Knowledge-base audit: which articles failed customers, which are never used, which are old.

* **flagged**: articles cited by an automatic answer the customer rated 👎, or by a draft an agent
  rejected;
* **never cited**: articles no answer or draft ever quoted;
* **stale**: articles whose front matter says ``updated: YYYY-MM-DD`` longer than ``stale_days``
  ago; **undated** ones have no ``updated:`` line.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from supportbot.bot.domain import Article, DraftStatus, OutboundKind
from supportbot.bot.ports import UnitOfWork

DEFAULT_STALE_DAYS = 180
_UPDATED = re.compile(r"^updated:\s*['\"]?(\d{4}-\d{2}-\d{2})", re.MULTILINE)


def updated_on(path: Path) -> date | None:
    """The ``updated:`` date in an article's front matter, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    front = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    match = _UPDATED.search(front)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


@dataclass
class Audit:
    articles: int
    stale_days: int
    flagged: list[dict[str, Any]] = field(default_factory=list)
    never_cited: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    undated: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "stale_days": self.stale_days,
            "flagged": self.flagged,
            "never_cited": self.never_cited,
            "stale": self.stale,
            "undated": self.undated,
        }


def _ids(citations: Any) -> list[str]:
    return [str(c.get("article_id")) for c in citations or () if isinstance(c, dict) and c.get("article_id")]


def audit_kb(
    uow: UnitOfWork, articles: Sequence[Article], kb_dir: Path, now: datetime, stale_days: int = DEFAULT_STALE_DAYS
) -> Audit:
    by_id = {a.id: a for a in articles}
    cited: Counter[str] = Counter()
    answers: dict[str, list[tuple[datetime, list[str]]]] = defaultdict(list)  # conversation -> automatic answers
    for item in uow.outbox.list():
        if item.kind is OutboundKind.ANSWER and item.conversation_id:
            ids = _ids(item.payload.get("citations"))
            cited.update(ids)
            answers[item.conversation_id].append((item.created_at, ids))
    negative: dict[str, set[str]] = defaultdict(set)
    rejected: dict[str, set[str]] = defaultdict(set)
    for draft in uow.drafts.list():
        ids = [c.article_id for c in draft.citations]
        cited.update(ids)
        if draft.status is DraftStatus.REJECTED:
            for article_id in ids:
                rejected[article_id].add(draft.conversation_id)
    for rating in uow.actions.list(action="csat"):
        if not rating.detail.get("negative") or not rating.conversation_id:
            continue
        before = [ids for at, ids in answers.get(rating.conversation_id, []) if at <= rating.created_at]
        for article_id in before[-1] if before else []:  # the answer the customer was rating
            negative[article_id].add(rating.conversation_id)
    audit = Audit(len(articles), stale_days)
    for article_id in sorted(set(negative) | set(rejected), key=lambda a: -(len(negative[a]) + len(rejected[a]))):
        article = by_id.get(article_id)
        audit.flagged.append(
            {
                "id": article_id,
                "title": article.title if article else article_id,
                "url": article.url if article else "",
                "negative_answers": len(negative[article_id]),
                "rejected_drafts": len(rejected[article_id]),
                "conversation_ids": sorted(negative[article_id] | rejected[article_id]),
            }
        )
    today = now.date()
    for article in sorted(articles, key=lambda a: a.id):
        row = {"id": article.id, "title": article.title, "url": article.url}
        if not cited[article.id]:
            audit.never_cited.append(row)
        updated = updated_on(kb_dir / f"{article.id}.md")
        if updated is None:
            audit.undated.append(row)
        elif (today - updated).days > stale_days:
            audit.stale.append({**row, "updated": updated.isoformat(), "days": (today - updated).days})
    audit.stale.sort(key=lambda r: -int(r["days"]))
    return audit
