"""A simulated subject served through a real provider's loopback server.

A simulated subject reads the probe context in `Request.metadata`, which no provider sends.
`SimulatedRelay` bridges that gap so that a whole assessment can run on the real client path
(SDK, request translation, strict server validation, response parsing, retries) while the
answers still come from a subject whose truths are known:

    relay = SimulatedRelay(load_model("simulated:harm-averse"))
    with FakeOpenAIServer(relay.responder) as server:
        subject = relay.model(OpenAIModel("sim", api_key="x", base_url=server.base_url))
        run_assessment(config, out, models={subject.spec: subject})

`relay.model(inner).generate(request)` asks the simulated subject first, files its answer
under the request body that `inner` will send, then calls `inner`; the server's responder
finds the answer by the body it received. Identical bodies in flight at once share a queue:
their answers are interchangeable, being answers to the same prompt.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from welfare.models.base import Model, Request, Response, canonical_json

BodyOf = Callable[[Request], dict[str, Any]]


def _blocks(content: Any) -> Any:
    """Content as a list of blocks without prompt-cache marks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [{k: v for k, v in b.items() if k != "cache_control"} if isinstance(b, dict)
                else b for b in content]
    return content


def dialogue_key(body: dict[str, Any]) -> str:
    """What identifies a request body for the relay: its system prompt and messages, with
    strings and single text blocks alike and prompt-cache marks left out (a provider may add
    them on the wire, as the Anthropic one does on system prompts and dialogue prefixes)."""
    payload = {
        "system": _blocks(body.get("system")),
        "messages": [{**m, "content": _blocks(m.get("content"))} if isinstance(m, dict) else m
                     for m in body.get("messages") or ()],
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def relay_answer(response: Response) -> dict[str, Any]:
    """A simulated Response as a loopback-server answer (content blocks and stop reason)."""
    return {"content": response.content_blocks(), "stop_reason": response.stop_reason}


class SimulatedRelay:
    """Answers a loopback server's requests with what `simulated` answered the same request."""

    def __init__(self, simulated: Model) -> None:
        self.simulated = simulated
        self._answers: dict[str, deque[dict[str, Any]]] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, body: dict[str, Any], answer: dict[str, Any]) -> None:
        """File `answer` for the request body a client is about to send."""
        key = dialogue_key(body)
        with self._lock:
            self._answers.setdefault(key, deque()).append(answer)
            self._last[key] = answer

    def responder(self, body: dict[str, Any]) -> dict[str, Any]:
        """The loopback server's responder: the answer filed for this body.

        A retried request finds the answer it was filed with again. A body nobody filed is a
        bug in the test: the KeyError becomes the server's 500 naming it.
        """
        key = dialogue_key(body)
        with self._lock:
            queue = self._answers.get(key)
            if queue:
                answer = queue.popleft()
                if not queue:
                    del self._answers[key]
                return answer
            if key in self._last:
                return self._last[key]
        raise KeyError(f"no simulated answer filed for this request (key {key[:12]})")

    def model(self, inner: Model, body_of: BodyOf | None = None) -> RelayedModel:
        """`inner` answering as the simulated subject; `body_of` gives the body it sends.

        By default the body is `inner.body(request)` when `inner` has that method (the
        OpenAI-compatible provider), else the Messages API parameters of the request.
        """
        if body_of is None:
            # the body the provider puts on the wire: OpenAIModel.body, AnthropicModel._params
            body_of = getattr(inner, "body", None) or getattr(inner, "_params", None) or (
                lambda request: request.api_params())
        return RelayedModel(self, inner, body_of)


class RelayedModel:
    """A real provider model whose loopback server answers as a simulated subject would."""

    def __init__(self, relay: SimulatedRelay, inner: Model, body_of: BodyOf) -> None:
        self.relay = relay
        self.inner = inner
        self._body_of = body_of

    @property
    def spec(self) -> str:
        return self.inner.spec

    @property
    def simulated(self) -> bool:
        """True: the answers are a simulated subject's, whatever path they travelled."""
        return True

    async def generate(self, request: Request) -> Response:
        answer = await self.relay.simulated.generate(request)
        self.relay.put(self._body_of(request), relay_answer(answer))
        return await self.inner.generate(request)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
