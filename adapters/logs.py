"""Logging for ``supportbot run`` and the other commands.

* ``SUPPORTBOT_LOG_FORMAT=text`` (default): ``time LEVEL logger: message``.
  ``json``: one JSON object per line with ``time``, ``level``, ``logger``, ``message``, the
  record's structured extras (the core's per-message line carries ``event``, ``message_id``,
  ``conversation_id``, ``platform``, ``status``, ``intent``, ``confidence``, ``action``, ``rule``,
  ``latency_ms``) and ``exc`` for an exception.
* Secrets never reach the output: every configured token, signing secret and database password
  is replaced by ``***`` in whatever a handler writes, whoever logged it.
* Request bodies: ``quiet_request_bodies`` makes a library logger (slack_bolt's) drop the body it
  appends to some lines (a forged request's, an unhandled request's): it is not verified, or it is
  a customer's text.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class RedactSecrets(logging.Filter):
    """Replaces each secret by ``***`` in the message, its arguments and an exception's text."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        # longest first, so a secret that contains another is replaced whole; short values are not secrets
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None  # formatted (and redacted) once; the formatter uses exc_text
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class DropRequestBodies(logging.Filter):
    """slack_bolt appends whole request bodies to a few lines; keep the line, drop the body."""

    MARKERS = (
        "Invalid request signature detected",  # unverified: anyone who reaches the port wrote it
        "Unhandled request",
        "without providing a response for the request",
        "Request body:",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        for marker in self.MARKERS:
            if marker in message:
                record.msg, record.args = f"{marker.rstrip(':')} (request body withheld)", None
                break
        return True


def quiet_request_bodies(logger: logging.Logger) -> logging.Logger:
    if not any(isinstance(f, DropRequestBodies) for f in logger.filters):
        logger.addFilter(DropRequestBodies())
    return logger


def configure(level: str, fmt: str = "text", secrets: Iterable[str | None] = ()) -> None:
    """Log to stderr in ``fmt`` (text or json) at ``level``, redacting ``secrets``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_supportbot", False):
            root.removeHandler(old)
    handler._supportbot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("alembic", "apscheduler"):  # routine job runs and migrations are not news
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
