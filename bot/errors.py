"""The exception tree of supportbot. Adapters translate library errors into it.

SupportbotError
 ├── ConfigurationError      a setting is missing or invalid (names the setting)
 ├── InvalidInput            a message or command the core cannot accept
 ├── NotFound                a draft, hand-off or conversation id that does not exist
 ├── NotAuthorized           the actor's role does not allow the action
 ├── Conflict                the action no longer applies (draft already approved, ...)
 ├── DuplicateDelivery       the inbound message was already stored (a platform retry)
 ├── ModelError              a model file is missing, corrupt or tampered with
 ├── DeliveryError           posting to a platform failed
 │    └── RateLimited        the platform asked us to wait ``retry_after`` seconds
 ├── CRMError                the CRM refused or could not answer a request (message says why)
 │    ├── CRMUnavailable     down, too slow, or still 429/5xx after the bounded retries
 │    └── CRMCredentialsError  401/403: the token or client credentials are wrong, revoked or lack a scope
 └── LanguageModelError      the LLM server failed, timed out or answered nonsense (``kind`` says which)
"""

from __future__ import annotations


class SupportbotError(Exception):
    """Base class of every error supportbot raises on purpose."""


class ConfigurationError(SupportbotError):
    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting}: {problem}")
        self.setting = setting
        self.problem = problem


class InvalidInput(SupportbotError):
    """The input cannot be processed; the message says why in plain words."""


class NotFound(SupportbotError):
    pass


class NotAuthorized(SupportbotError):
    pass


class Conflict(SupportbotError):
    pass


class DuplicateDelivery(SupportbotError):
    pass


class ModelError(SupportbotError):
    pass


class DeliveryError(SupportbotError):
    """Posting failed; ``permanent`` errors are not retried (e.g. channel_not_found)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:g}s)")
        self.retry_after = retry_after


class CRMError(SupportbotError):
    """A CRM request failed; the core answers without the account (or from its cache)."""


class CRMUnavailable(CRMError):
    pass


class CRMCredentialsError(CRMError):
    """Retrying cannot help: an operator must fix the credentials or the app's permissions."""


class LanguageModelError(SupportbotError):
    """A chat-completions call failed; the composer falls back to the extractive reply.

    ``kind`` is one of timeout, rate_limited, server, client, connection, protocol.
    """

    def __init__(self, kind: str, message: str, *, attempts: int = 1, latency_ms: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts
        self.latency_ms = latency_ms
