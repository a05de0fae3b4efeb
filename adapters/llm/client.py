"""``LanguageModel`` for any OpenAI-compatible chat-completions server, over httpx.

``POST {url}/chat/completions`` with ``model``, ``messages``, ``max_tokens`` and
``temperature``; the reply is ``choices[0].message.content`` and ``usage``
gives the token counts. Retries: a 429 or 5xx is retried at most twice, after
``Retry-After`` (seconds or an HTTP date) or a short backoff, and only while the
time budget (``timeout``, for the whole call) allows; a timeout is never
retried. Every failure becomes ``LanguageModelError`` with its ``kind``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from supportbot.adapters.llm.settings import LlmSettings
from supportbot.bot.composer import ChatMessage, Completion, LanguageModel
from supportbot.bot.errors import LanguageModelError

MAX_RETRIES = 2


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class OpenAIChatModel(LanguageModel):
    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 20.0,
        max_retries: int = MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._sleep = sleep
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(headers=headers, transport=transport, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float) -> Completion:
        payload = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": False,
        }
        started = time.monotonic()
        deadline = started + self.timeout
        attempts = 0

        def fail(kind: str, message: str) -> LanguageModelError:
            return LanguageModelError(kind, message, attempts=attempts, latency_ms=(time.monotonic() - started) * 1000)

        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise fail("timeout", f"no reply within {self.timeout:g}s")
            try:
                response = await self._client.post(self.url, json=payload, timeout=remaining)
            except httpx.TimeoutException as exc:
                raise fail("timeout", f"no reply within {self.timeout:g}s ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise fail("connection", f"{type(exc).__name__}: {exc}") from exc
            status = response.status_code
            if status == 429 or status >= 500:
                kind = "rate_limited" if status == 429 else "server"
                if attempts > self.max_retries:
                    raise fail(kind, f"HTTP {status} after {attempts} attempts: {_error_message(response)}")
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                wait = 0.5 * 2 ** (attempts - 1) if wait is None else wait
                if time.monotonic() + wait >= deadline:
                    raise fail(kind, f"HTTP {status}; waiting {wait:g}s would pass the {self.timeout:g}s budget")
                await self._sleep(wait)
                continue
            if status >= 400:
                raise fail("client", f"HTTP {status}: {_error_message(response)}")
            return _completion(response, self.model, attempts, (time.monotonic() - started) * 1000, fail)


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        if error:
            return str(error)[:300]
    except ValueError:
        pass
    return response.text[:300] or response.reason_phrase


def _completion(
    response: httpx.Response,
    model: str,
    attempts: int,
    latency_ms: float,
    fail: Callable[[str, str], LanguageModelError],
) -> Completion:
    try:
        data = response.json()
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise fail("protocol", f"unexpected response: {response.text[:200]}") from exc
    if not isinstance(content, str):
        raise fail("protocol", "the reply has no text content")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}

    def count(key: str) -> int | None:
        value = usage.get(key)
        return value if isinstance(value, int) else None

    return Completion(
        text=content,
        model=str(data.get("model") or model),
        latency_ms=latency_ms,
        prompt_tokens=count("prompt_tokens"),
        completion_tokens=count("completion_tokens"),
        total_tokens=count("total_tokens"),
        attempts=attempts,
        finish_reason=choice.get("finish_reason"),
    )


def build_language_model(settings: LlmSettings) -> OpenAIChatModel | None:
    """The configured model, or None when ``SUPPORTBOT_LLM_URL`` is unset (LLM composition off)."""
    if not settings.llm_url or not settings.llm_model:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return OpenAIChatModel(settings.llm_url, settings.llm_model, api_key=key, timeout=settings.llm_timeout)
