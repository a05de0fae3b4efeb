"""The core's settings: policy, SLAs, operations, the knowledge base and model.

Adapters own their settings (``supportbot.adapters.slack.settings`` and so on);
the composition root combines them all into one ``Settings`` read from the
environment and ``supportbot.toml`` (``supportbot.adapters.settings``). The
core only ever sees ``CoreSettings``.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

EXAMPLE_DIR = Path(__file__).parent / "example"

# Intents the bot may answer on its own when every other rule agrees: how-to
# questions whose answer is in the docs. Everything else gets a draft at most.
DEFAULT_AUTOMATION_INTENTS = [
    "password_reset",
    "two_factor_auth",
    "invoice",
    "plan_change",
    "api_error",
    "rate_limits",
    "webhooks",
    "integrations",
    "data_export",
    "data_import",
    "user_management",
    "onboarding",
    "dashboards_reports",
    "security_questionnaire",
    "account_login",
    "feature_request",
]
# Always a human, whatever the confidence: the cost of a wrong answer is too high.
DEFAULT_HANDOFF_INTENTS = ["outage", "security_incident", "data_loss", "cancellation"]


class PolicySettings(BaseModel):
    automation_intents: list[str] = Field(default_factory=lambda: list(DEFAULT_AUTOMATION_INTENTS))
    handoff_intents: list[str] = Field(default_factory=lambda: list(DEFAULT_HANDOFF_INTENTS))
    draft_tiers: list[str] = Field(default_factory=lambda: ["enterprise"])
    intent_thresholds: dict[str, float] = Field(default_factory=dict)
    tier_thresholds: dict[str, float] = Field(default_factory=dict)
    default_threshold: float = Field(0.6, ge=0, le=1)
    draft_min_confidence: float = Field(0.25, ge=0, le=1)
    min_article_score: float = Field(0.05, ge=0, le=1)  # for automatic answers
    # For drafts an agent reviews: the same answerability bar as retrieval_draft_score. Below it a
    # tagged article is no answer either (bench/answers.py, pipeline: unanswerable questions handed
    # off 68% at 0.02, 95% at 0.06; cited article right 84% -> 93%).
    draft_min_article_score: float = Field(0.06, ge=0, le=1)
    # Retrieval first: the best passage's score decides answerability when the intent model does not
    # route the question to an article (out of scope, low confidence, a KB without intents). Measured
    # with bench/answers.py (2-fold cross-validation on the bundled KB): below 0.06 the KB does not
    # answer (hand off); answers at >= 0.18 were right 93-95% of the time; between, a draft.
    retrieval_draft_score: float = Field(0.06, ge=0, le=1)
    retrieval_answer_score: float = Field(0.18, ge=0, le=1)
    handoff_frustration: float = Field(0.7, ge=0, le=1)

    @field_validator("intent_thresholds", "tier_thresholds")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        for key, threshold in value.items():
            if not 0 <= threshold <= 1:
                raise ValueError(f"threshold for {key!r} must be between 0 and 1, got {threshold}")
        return value


class SlaTarget(BaseModel):
    """Allowed minutes for one (tier, urgency); ``business_hours`` False means 24/7."""

    first_response_minutes: float = Field(gt=0)
    resolution_minutes: float = Field(gt=0)
    business_hours: bool = True


def _t(frt: float, res: float, business_hours: bool = True) -> SlaTarget:
    return SlaTarget(first_response_minutes=frt, resolution_minutes=res, business_hours=business_hours)


BUSINESS_DAY = 9 * 60  # minutes in one default business day (09:00-18:00)


def _default_sla_targets() -> dict[str, dict[str, SlaTarget]]:
    return {
        "enterprise": {
            "critical": _t(15, 4 * 60, False),
            "high": _t(60, 8 * 60, False),
            "normal": _t(120, 2 * BUSINESS_DAY),
            "low": _t(240, 3 * BUSINESS_DAY),
        },
        "pro": {
            "critical": _t(60, 8 * 60, False),
            "high": _t(120, BUSINESS_DAY),
            "normal": _t(240, 3 * BUSINESS_DAY),
            "low": _t(480, 5 * BUSINESS_DAY),
        },
        "starter": {
            "critical": _t(120, BUSINESS_DAY),
            "high": _t(240, 2 * BUSINESS_DAY),
            "normal": _t(480, 4 * BUSINESS_DAY),
            "low": _t(BUSINESS_DAY, 5 * BUSINESS_DAY),
        },
        "free": {"*": _t(BUSINESS_DAY, 5 * BUSINESS_DAY)},
        "*": {"*": _t(BUSINESS_DAY, 5 * BUSINESS_DAY)},
    }


class SlaSettings(BaseModel):
    """SLA targets per account tier and urgency, business hours, escalation.

    ``targets[tier][urgency]``; ``"*"`` is the fallback for an unknown tier or
    urgency (conversations without a CRM account use tier ``"*"``).
    """

    enabled: bool = True
    targets: dict[str, dict[str, SlaTarget]] = Field(default_factory=_default_sla_targets)
    timezone: str = "UTC"
    business_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])  # Monday = 0
    business_start: time = time(9, 0)
    business_end: time = time(18, 0)
    holidays: list[date] = Field(default_factory=list)
    warn_at: float = Field(0.75, gt=0, lt=1)
    escalate_at: float = Field(0.9, gt=0, lt=1)
    sweep_seconds: float = Field(30.0, ge=1)
    # user ids to mention on escalation, per platform ({"slack": ["U123"], "discord": ["4242"]})
    oncall: dict[str, list[str]] = Field(default_factory=dict)
    managers: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("targets")
    @classmethod
    def _merge_targets(cls, value: dict[str, dict[str, SlaTarget]]) -> dict[str, dict[str, SlaTarget]]:
        """Configured targets override the defaults per (tier, urgency); the rest stay."""
        merged = _default_sla_targets()
        for tier, by_urgency in value.items():
            merged.setdefault(tier, {}).update(by_urgency)
        return merged

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("business_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 <= d <= 6 for d in value):
            raise ValueError("business_days must list weekdays 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("escalate_at")
    @classmethod
    def _after_warning(cls, value: float, info: Any) -> float:
        warn = info.data.get("warn_at")
        if warn is not None and value <= warn:
            raise ValueError("escalate_at must be greater than warn_at")
        return value


class OperationsSettings(BaseModel):
    """Lifecycle, CSAT, weekly report and alert settings."""

    auto_resolve_hours: float = Field(48.0, gt=0)  # customer silence after an answer; nudge at half
    lifecycle_sweep_seconds: float = Field(300.0, ge=1)
    csat_platforms: list[str] = Field(default_factory=lambda: ["slack", "discord", "playground", "terminal"])
    report_platforms: list[str] = Field(default_factory=list)  # empty: every registered channel
    report_weekday: int = Field(0, ge=0, le=6)  # Monday
    report_hour: int = Field(9, ge=0, le=23)  # local hour in sla.timezone
    alerts_sweep_seconds: float = Field(900.0, ge=1)
    # alert thresholds: (yellow, red)
    alert_auto_csat: tuple[float, float] = (0.85, 0.75)  # CSAT on automatic answers below
    alert_automation_drop: tuple[float, float] = (0.05, 0.10)  # week-over-week drop, absolute
    alert_sla_breaches: tuple[int, int] = (1, 5)  # breaches in the last 24 h at or above
    alert_min_ratings: int = Field(5, ge=1)  # fewer CSAT answers than this: no CSAT alert


class ModelOpsSettings(BaseModel):
    """Model versions in running bots, and the scheduled retraining that only proposes.

    Read as ``SUPPORTBOT_MODELS__<NAME>``. The retraining job trains a candidate from
    ``retrain_data`` plus agents' corrections once ``retrain_min_corrections`` new ones arrived (at
    most every ``retrain_every_hours``), compares it with the current model on ``retrain_heldout``
    and posts the comparison to the managers; a manager promotes it.
    """

    reload_seconds: float = Field(20.0, ge=1, le=60)  # a promotion reaches running bots within this
    retrain_enabled: bool = True
    retrain_check_seconds: float = Field(3600.0, ge=10)
    retrain_every_hours: float = Field(168.0, gt=0)
    retrain_min_corrections: int = Field(10, ge=1)
    retrain_data: Path = EXAMPLE_DIR / "intents.csv"
    retrain_heldout: Path | None = EXAMPLE_DIR / "intents_heldout.csv"
    retrain_text_column: str = "text"
    retrain_label_column: str = "intent"
    retrain_oos_label: str | None = "out_of_scope"
    retrain_target_precision: float = Field(0.98, ge=0.5, le=1.0)
    retrain_out_dir: Path | None = None  # None: a models/ folder beside the SQLite file, else ./models


class AcknowledgementSettings(BaseModel):
    """What the customer is told when the bot drafts or hands off, and the prompt after a bare greeting.

    Read as ``SUPPORTBOT_ACKNOWLEDGEMENT__<NAME>``. ``{expectation}`` in a text is the first-response
    target of the conversation's SLA (tier and urgency), e.g. "1 business hour".
    """

    enabled: bool = True
    text: str = (
        "Thanks, I've passed this to our support team with the details so far. "
        "A teammate will reply here, usually within {expectation}."
    )
    # per account tier ("*": no CRM account): its own text, or "" for no acknowledgement on that tier
    tiers: dict[str, str] = Field(default_factory=dict)
    # the reply to a greeting alone ("hi", "hello team"); "" for none. It opens no conversation.
    greeting_prompt: str = "Hi! What can we help you with? Ask your question here and we'll take it from there."

    @field_validator("text")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        try:
            value.format(expectation="1 business hour")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{expectation}} may appear in braces ({exc})") from None
        return value

    @field_validator("tiers")
    @classmethod
    def _tier_placeholders(cls, value: dict[str, str]) -> dict[str, str]:
        for tier, text in value.items():
            try:
                text.format(expectation="1 business hour")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"tier {tier!r}: only {{expectation}} may appear in braces ({exc})") from None
        return value


class EmojiSettings(BaseModel):
    """Emoji workflows for agents, read as ``SUPPORTBOT_EMOJI__<NAME>``: reaction names (Slack's names;
    Discord's Unicode emoji are translated to them). Customers' reactions do nothing."""

    enabled: bool = True
    ticket: list[str] = Field(default_factory=lambda: ["ticket", "admission_tickets"])  # open a conversation
    claim: list[str] = Field(default_factory=lambda: ["eyes"])  # take the conversation
    resolve: list[str] = Field(default_factory=lambda: ["white_check_mark", "heavy_check_mark"])  # resolve it


class CoreSettings(BaseModel):
    """What the core needs; read as ``SUPPORTBOT_<NAME>`` (nested: ``SUPPORTBOT_POLICY__<NAME>``)."""

    @field_validator("channel_modes")
    @classmethod
    def _modes(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = ("auto", "draft-only", "shadow", "off")
        for channel, mode in value.items():
            if mode not in allowed:
                raise ValueError(f"mode of channel {channel!r} must be one of {', '.join(allowed)}, got {mode!r}")
        return value

    kb_dir: Path = EXAMPLE_DIR / "kb"
    model_dir: Path = EXAMPLE_DIR / "model"
    crm_cache_seconds: int = Field(900, ge=0)
    # the most a message waits for the CRM, retries and queueing included; then it goes on without
    crm_deadline_seconds: float = Field(5.0, gt=0, le=60)
    # an outbound item that could not be delivered for this long is failed (a dead letter, retried by
    # hand with `/support retry` or `supportbot outbox retry`); 429s and outages only delay it
    delivery_give_up_hours: float = Field(24.0, gt=0)
    # how long a sender's claim keeps other replicas off an item; it must outlast one platform call
    # (their clients time out within 30 s). After a crash, the dead sender's items wait this long.
    delivery_claim_seconds: float = Field(60.0, ge=1)
    # a new top-level message joins the author's previous conversation only within this many seconds
    # of their last message there, and only before anyone replied to it (0: never)
    grouping_window_seconds: int = Field(120, ge=0, le=24 * 3600)
    note_marker: str = Field("//", min_length=1)
    max_message_chars: int = Field(40_000, ge=100)

    policy: PolicySettings = Field(default_factory=PolicySettings)
    acknowledgement: AcknowledgementSettings = Field(default_factory=AcknowledgementSettings)
    emoji: EmojiSettings = Field(default_factory=EmojiSettings)
    # channel id -> auto, draft-only, shadow or off (a manager's `/support mode` wins); unlisted: auto
    channel_modes: dict[str, str] = Field(default_factory=dict)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    operations: OperationsSettings = Field(default_factory=OperationsSettings)
    models: ModelOpsSettings = Field(default_factory=ModelOpsSettings)
