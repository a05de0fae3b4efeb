"""Small fakes of the core's ports: classifier, channel, CRM, clock."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from supportbot.bot.domain import (
    OUT_OF_SCOPE,
    Account,
    AccountLookup,
    Audience,
    Classification,
    Delivery,
    IntentScore,
    Outbound,
    Sentiment,
    Urgency,
)
from supportbot.bot.ports import CRM, Channel, Classifier, Clock, Pace

# keyword -> (intent, confidence)
KEYWORDS: dict[str, tuple[str, float]] = {
    "invoice": ("invoice", 0.97),
    "saml": ("sso_saml", 0.93),
    "sso": ("sso_saml", 0.9),
    "password": ("password_reset", 0.95),
    "webhook": ("webhooks", 0.7),
    " down": ("outage", 0.9),
    "cancel": ("cancellation", 0.95),
    "refund": ("refund", 0.92),
}


class FakeClassifier(Classifier):
    """Keyword rules; "down"/"none of our users" make it critical, caps make it angry."""

    version = "fake-1"

    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        lower = text.lower()
        intent, confidence = next(((i, c) for word, (i, c) in KEYWORDS.items() if word in lower), (OUT_OF_SCOPE, 0.2))
        critical = "none of our users" in lower or re.search(r"\bdown\b", lower) is not None
        shouting = sum(ch.isupper() for ch in text) > 0.6 * max(1, sum(ch.isalpha() for ch in text))
        return Classification(
            intent=intent,
            confidence=confidence,
            out_of_scope=intent == OUT_OF_SCOPE,
            urgency=Urgency.CRITICAL if critical else Urgency.NORMAL,
            sentiment=Sentiment.NEGATIVE if shouting else Sentiment.NEUTRAL,
            top_intents=(IntentScore(intent, confidence),),
            urgency_reasons=("many users affected",) if critical else (),
            frustration=0.9 if shouting else 0.0,
            model_version=self.version,
        )

    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({i for i, _ in KEYWORDS.values()}))

    def thresholds(self) -> dict[str, float]:
        return {"*": 0.8, "webhooks": 0.75}


class FakeChannel(Channel):
    """Records what would be posted; can be told to fail the next sends."""

    def __init__(self, platform: str = "test") -> None:
        self.platform = platform
        self.sent: list[tuple[Outbound, Delivery]] = []
        self.failures: list[tuple[str | None, Exception]] = []  # (kind or None, error), raised once each
        self.budget: Pace | None = None  # one rate budget for every staff post, when set
        self.lookups: list[str] = []  # outbound ids already_sent was asked about
        self._next = 0

    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        for i, (kind, error) in enumerate(self.failures):
            if kind is None or kind == outbound.kind:
                del self.failures[i]
                raise error
        self._next += 1
        self.sent.append((outbound, delivery))
        return f"{self.platform}-{self._next}"

    def pace(self, outbound: Outbound, delivery: Delivery | None) -> Pace | None:
        return self.budget if outbound.audience is not Audience.CUSTOMER else None

    async def already_sent(self, outbound: Outbound, delivery: Delivery) -> str | None:
        self.lookups.append(outbound.id)
        return next((f"found-{o.id}" for o, _ in self.sent if o.id == outbound.id), None)

    def texts(self, audience: str | None = None, kind: str | None = None) -> list[str]:
        return [
            o.text
            for o, _ in self.sent
            if (audience is None or o.audience == audience) and (kind is None or o.kind == kind)
        ]

    def kinds(self) -> list[str]:
        return [o.kind.value for o, _ in self.sent]

    def fail_next(self, error: Exception, kind: str | None = None) -> None:
        """The next send (of ``kind``, if given) raises ``error``."""
        self.failures.append((kind, error))


class FakeCRM(CRM):
    def __init__(self, accounts: Sequence[Account] = ()) -> None:
        self.accounts = list(accounts)
        self.lookups = 0
        self.broken = False

    async def find_account(self, lookup: AccountLookup) -> Account | None:
        self.lookups += 1
        if self.broken:
            raise ConnectionError("CRM unreachable")
        for a in self.accounts:
            if lookup.account_id == a.id or (lookup.slack_team_id and lookup.slack_team_id in a.slack_team_ids):
                return a
        return None

    async def list_accounts(self) -> list[Account]:
        return list(self.accounts)


class FakeClock(Clock):
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)
