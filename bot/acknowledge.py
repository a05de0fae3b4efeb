"""The customer is never left in silence: an acknowledgement when the bot drafts or hands off.

Once per conversation, in its thread, with a realistic expectation from the SLA policy ("A
teammate will reply here, usually within 1 business hour"). Switched off (globally, or per tier
with an empty text), a hand-off keeps its plain notice and a draft says nothing, as before.
"""

from __future__ import annotations

from supportbot.bot import presenter
from supportbot.bot.domain import Audience, OutboundKind
from supportbot.bot.effects import EventBus, Scope
from supportbot.bot.events import Drafted, HandedOff
from supportbot.bot.settings import BUSINESS_DAY, AcknowledgementSettings
from supportbot.bot.sla import SlaPolicy, tier_of


def expectation(minutes: float, business_hours: bool) -> str:
    """A first-response target as people say it: "30 minutes", "2 hours", "1 business day"."""

    def plural(n: float, unit: str) -> str:
        count = round(n)
        return f"{count} {unit}{'' if count == 1 else 's'}"

    if minutes < 60:
        return plural(max(minutes, 1), "minute")
    if business_hours and minutes >= BUSINESS_DAY:
        return plural(minutes / BUSINESS_DAY, "business day")
    return plural(minutes / 60, "business hour" if business_hours else "hour")


class Acknowledgements:
    def __init__(self, settings: AcknowledgementSettings, sla: SlaPolicy) -> None:
        self.settings = settings
        self.sla = sla

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(Drafted, self.on_drafted)
        bus.subscribe(HandedOff, self.on_handed_off)

    def text_for(self, tier: str | None, urgency: str) -> str | None:
        """The acknowledgement for this tier and urgency, or None when switched off."""
        s = self.settings
        template = s.tiers.get(tier or "*", s.text) if s.enabled else ""
        if not template:
            return None
        target = self.sla.target(tier, urgency)
        return template.format(expectation=expectation(target.first_response_minutes, target.business_hours))

    def _acknowledge(self, scope: Scope) -> bool:
        """Queue the acknowledgement (once per conversation); False when it is switched off."""
        text = self.text_for(tier_of(scope.uow, scope.conv), scope.conv.urgency.value)
        if text is None:
            return False
        scope.queue(Audience.CUSTOMER, OutboundKind.SYSTEM, text, f"ack:{scope.conv.id}", {"acknowledgement": True})
        return True

    def on_drafted(self, scope: Scope, event: Drafted) -> None:
        self._acknowledge(scope)

    def on_handed_off(self, scope: Scope, event: HandedOff) -> None:
        if not self._acknowledge(scope):
            scope.queue(Audience.CUSTOMER, OutboundKind.SYSTEM, presenter.HANDOFF_ACK, f"handoff-ack:{event.key}")
