"""The Slack app manifest, derived from what the adapter actually calls.

``METHOD_SCOPES`` lists every Web API method the adapter calls and the bot
scopes Slack's method docs require for it; tests check each method recorded by
the fake Slack server against this table and the table against the manifest.
"""

from __future__ import annotations

from typing import Any

import yaml

# Web API method -> bot token scopes it needs (empty: no scope required).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "users.info": ("users:read", "users:read.email"),  # users:read.email: profile.email for the CRM lookup
    "conversations.info": ("channels:read", "groups:read"),  # public / private channels
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.getPermalink": (),
    "conversations.replies": ("channels:history", "groups:history"),  # did a post land before a crash?
    "conversations.history": ("channels:history", "groups:history"),
    "reactions.add": ("reactions:write",),
    "views.open": (),
    "views.publish": (),
    "files.getUploadURLExternal": ("files:write",),  # the weekly report's chart (files upload v2)
    "files.completeUploadExternal": ("files:write",),
}
# Methods called with the app-level token (Socket Mode), not the bot token.
APP_TOKEN_METHODS: dict[str, tuple[str, ...]] = {"apps.connections.open": ("connections:write",)}

# Bot events -> the scope Slack requires to subscribe to them.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "app_home_opened": (),
    "reaction_added": ("reactions:read",),  # agents' emoji workflows: 🎫 open, 👀 claim, ✅ resolve
}
SLASH_COMMAND = "/support"
COMMAND_SCOPES = ("commands",)


def bot_scopes() -> list[str]:
    scopes: set[str] = set(COMMAND_SCOPES)
    for table in (METHOD_SCOPES, EVENT_SCOPES):
        for needed in table.values():
            scopes.update(needed)
    return sorted(scopes)


def manifest(*, socket_mode: bool, url: str | None = None, name: str = "supportbot") -> dict[str, Any]:
    """The manifest as a dict; ``url`` is the public base URL in HTTP mode (".../slack/events" is appended)."""
    if not socket_mode and not url:
        raise ValueError("HTTP mode needs the public URL of the bot (--url https://bot.example.com)")
    endpoint = None
    if not socket_mode:
        base = (url or "").rstrip("/")
        endpoint = base if base.endswith("/slack/events") else base + "/slack/events"
    command: dict[str, Any] = {
        "command": SLASH_COMMAND,
        "description": "Support queue, SLAs and stats",
        "usage_hint": (
            "help | queue | sla | stats [7d] | threshold [intent] [value] | mode [#channel mode] | failed | retry"
        ),
        # escaped: a #channel typed after /support mode arrives as <#C123|name>
        "should_escape": True,
    }
    events: dict[str, Any] = {"bot_events": sorted(EVENT_SCOPES)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if endpoint:
        command["url"] = endpoint
        events["request_url"] = endpoint
        interactivity["request_url"] = endpoint
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Answers customer questions in Slack Connect channels; drafts and hand-offs for agents.",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": False,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(*, socket_mode: bool, url: str | None = None, name: str = "supportbot") -> str:
    return yaml.safe_dump(manifest(socket_mode=socket_mode, url=url, name=name), sort_keys=False)
