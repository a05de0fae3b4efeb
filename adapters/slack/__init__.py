"""Slack adapter: slack-bolt AsyncApp over Socket Mode or the HTTP Events API.

``SlackService`` (adapters.slack.service) is what ``supportbot run`` starts;
``SlackChannel`` posts the core's outbox; ``SlackHandlers`` turns events,
button clicks, modal submissions and ``/support`` into core calls.
"""
