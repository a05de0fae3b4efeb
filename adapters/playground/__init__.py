"""Browser playground: a customer pane and an agent console over the real core.

It is a Channel adapter like Slack and Discord (platform ``playground``):
same core, same storage, same policy. See docs/playground.md.
"""
