"""Operations wiring in the core: SLA, lifecycle and CSAT hooks plus the sweeps
the scheduler runs (``adapters/operations.py`` registers them as jobs).

``Operations.install(core, settings)`` is called by the composition root; it
adds the hooks to ``core.hooks`` and returns the object holding the sweeps.
"""

from __future__ import annotations

from datetime import timedelta

from bot.csat import CsatHooks
from bot.lifecycle import LifecycleSweeper
from bot.settings import Settings
from bot.sla import SlaHooks, SlaPolicy, SlaSweeper


class Operations:
    def __init__(self, core, settings: Settings) -> None:  # core: bot.service.SupportCore
        self.core = core
        self.settings = settings
        self.sla_policy = SlaPolicy(settings.sla)
        self.sla = SlaSweeper(core, self.sla_policy)
        self.lifecycle = LifecycleSweeper(core, timedelta(hours=settings.operations.auto_resolve_hours))
        self.sla_hooks = SlaHooks(self.sla_policy)
        self.csat_hooks = CsatHooks(core, settings.operations.csat_platforms)

    @classmethod
    def install(cls, core, settings: Settings) -> Operations:
        ops = cls(core, settings)
        core.hooks.extend([ops.sla_hooks, ops.csat_hooks])
        return ops

    def report_platforms(self) -> list[str]:
        """Where manager reports and alerts go: the setting, else every registered channel."""
        configured = self.settings.operations.report_platforms
        return list(configured) if configured else sorted(self.core.channels)
