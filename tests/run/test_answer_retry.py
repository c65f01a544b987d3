"""Empty and truncated answers from a real model: asked again once under a new request hash,
then a counted failure (`empty_answer`, `max_tokens`); a resume pays for nothing again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from welfare.errors import ModelError
from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Request
from welfare.run.runner import RETRY_KEY, CallingModel, Meter
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer, last_user_text, text


def _responder(body: dict[str, Any]) -> Any:
    prompt = last_user_text(body)
    if prompt.startswith("empty"):
        return text("")
    if prompt.startswith("long"):
        return text("word " * 6000)  # more than 4,096 tokens: cut at max_tokens
    return text("Fine.")


def _ask(store: Store, server: FakeAnthropicServer, prompt: str) -> Any:
    model = CallingModel(AnthropicModel("claude-opus-5-5", api_key="k",
                                        base_url=server.base_url), store, Meter())
    request = Request(({"role": "user", "content": prompt},), max_tokens=1024)

    async def go() -> Any:
        try:
            return await model.generate(request)
        finally:
            await model.inner.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


@pytest.mark.parametrize(("prompt", "cause"), [("empty please", "empty_answer"),
                                              ("long please", "max_tokens")])
def test_retried_once_then_fails_and_resume_does_not_pay_again(tmp_path, prompt, cause):
    path = tmp_path / "s.sqlite"
    with FakeAnthropicServer(_responder, strict=True) as server:
        with Store(path) as store, pytest.raises(ModelError) as info:
            _ask(store, server, prompt)
        first = server.counters()
        with Store(path) as store, pytest.raises(ModelError) as again:
            _ask(store, server, prompt)
        second = server.counters()
    assert info.value.kind == cause == again.value.kind
    # the request and its one retry: the same body on the wire, two keys in the store
    assert first.messages == 2 and list(first.by_hash.values()) == [2]
    with Store(path) as store:
        assert store.response_count() == 2  # both answers kept (they were paid for)
    assert second.messages == 2  # the resume found both answers stored
    assert first.bad_requests == {}


def test_a_retry_that_answers_is_used(tmp_path):
    calls: list[str] = []

    def once_empty(body: dict[str, Any]) -> Any:
        calls.append(last_user_text(body))
        return text("") if len(calls) == 1 else text("Here it is.")

    with FakeAnthropicServer(once_empty, strict=True) as server, Store(tmp_path / "s") as store:
        response = _ask(store, server, "anything")
    assert response.text == "Here it is." and len(calls) == 2
    assert RETRY_KEY == "answer_retry"
