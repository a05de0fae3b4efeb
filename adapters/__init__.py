"""Adapters: translate between the outside world (Slack, Discord, the CRM, the
browser playground, the terminal, files) and the core's ports."""
