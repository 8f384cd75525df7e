"""Corpus of real smolagents runs, traced by OpenInference's smolagents instrumentor.

    python generate.py --out DIR            # DIR/smolagents.otlp.jsonl.gz + DIR/smolagents.labels.csv
    python generate.py --out DIR --only loop --dump   # print the spans of the matching scenarios

Two small apps, each run by smolagents' own agents (``ToolCallingAgent`` with JSON tool calls and
``CodeAgent`` writing Python) with scripted models:

* **support desk**: orders, refunds, shipment tracking, a help-centre search; managers
  (``support_desk``, ``ticket_router``) delegate to managed agents ``billing_agent``,
  ``shipping_agent``, ``refunds_agent``, ``fraud_agent``.
* **research assistant**: web search, page fetch, summarise, citation lookup; ``research_lead``
  delegates to ``search_agent``, ``analyst_agent``, ``writer_agent``, ``critic_agent``, ``reader_agent``.

The models are smolagents' real ``OpenAIModel`` talking to the real ``openai`` SDK, whose HTTP client
is an in-process fake of the chat-completions endpoint (``httpx2.MockTransport``; openai 3.x speaks
httpx2): it answers each request from the scenario's script with a real ChatCompletion body, or
with OpenAI's real error responses (429 rate_limit_exceeded, 400 context_length_exceeded, 500/503)
or a transport error (read timeout, connection refused), so the ``openai`` exceptions
(RateLimitError, BadRequestError, InternalServerError, APITimeoutError, APIConnectionError) are
raised by the SDK itself. The instrumentor only wraps the Model classes smolagents exports, so
the custom ``smolagents.Model`` subclasses here (``ResilientModel``: an app-side retry with
smolagents' own ``Retrying`` helper, one provider call per attempt; ``GuardedModel``: an output
guardrail) implement ``generate`` by delegating to an ``OpenAIModel``: every provider call is an
``OpenAIModel.generate`` LLM span. Tools call in-process fakes of their services through ``httpx``
(``httpx.MockTransport``), which raise httpx's own errors.

Scenarios per mode (label in brackets; every failure happens in smolagents' code path):

* handoff/output_parse_error: prose with no JSON tool call until max_steps ("The model output does
  not contain any JSON blob."); a CodeAgent reply without a code block, then a good one (recovered);
  structured-output CodeAgent replies with broken JSON until max_steps; a malformed JSON blob, then
  a good one (recovered).
* handoff/schema_mismatch: ``final_answer_checks`` validating the answer with pydantic (Field
  required; int_parsing) until max_steps, or once and then fixed; a managed agent's checks failing.
* handoff/invalid_tool_args: smolagents' ``validate_tool_arguments`` (AgentToolCallError "Argument
  amount has type 'string' but should be 'number'", "Argument max_words is required") and a
  CodeAgent calling a tool with an unexpected keyword (TypeError inside the tool span).
* state/context_overflow: the provider's 400 context_length_exceeded after big tool outputs
  (ToolCallingAgent, CodeAgent).
* state/lost_state: a customised planning / managed-agent prompt template referencing a variable
  nobody supplies (smolagents' jinja StrictUndefined: "UndefinedError: 'customer_tier' is
  undefined"), a step callback reading ``agent.state`` that was never written (KeyError).
* state/redundant_work: the same tool or managed agent re-run with identical arguments after it
  succeeded; the run ends well.
* routing/loop: the same tool / managed agent call repeated until ``max_steps`` ("Reached max steps."
  is only in smolagents' memory: the run then asks the model for a final answer and ends ok).
* routing/unknown_tool: "Unknown tool cancel_order, should be one of: ..." (a tool or a managed
  agent), a CodeAgent calling an undefined function ("Forbidden function evaluation: ... is not among
  the explicitly allowed tools"); recovered, or repeated until max_steps.
* routing/ping_pong: a manager bouncing the task between two managed agents that each say it is the
  other's job, until max_steps (smolagents delegation is hierarchical: the manager mediates).
* recovery/retries_exhausted: ResilientModel attempts (waits 0.2 s, 0.4 s) all failing; smolagents'
  built-in ApiModel retryer and the openai SDK's own max_retries exhausting INSIDE one LLM span.
* recovery/no_retry: a timeout, a refused connection, a 503 (smolagents only retries rate limits),
  a 429 with ``retry=False``: the step raises AgentGenerationError and the run fails.
* recovery/no_backoff: ResilientModel with no wait; the model re-calling a tool at once after its
  read timeout; a manager re-delegating at once after a managed agent's 503. All end well.
* recovery/silent_failure: a tool swallowing its backend's ConnectError; CodeAgent code wrapping a
  tool or a managed agent in ``try/except`` and answering from a default.
* recovery/unhandled_error: a step callback's ZeroDivisionError, a provider reply with no choices
  (IndexError in OpenAIModel.generate), a custom guardrail exception from a custom Model.
* clean (none/none): simple runs of both agent kinds, a 429 / 503 retried with back-off (0.2-0.4 s)
  then ok, the SDK's own invisible retry, one hand-off, a revision round (draft, critique, draft),
  a refused refund and a 404 page that the agent reads and handles, long runs (12+ model calls,
  distinct arguments), parallel tool calls, a planning step, passing final-answer checks.

What smolagents cannot produce as such: a peer-to-peer hand-off (managed agents are called like
tools and always return to their manager, so ping-pong is manager-mediated); a visible retry
inside the framework (ApiModel's ``Retrying`` and the SDK's ``max_retries`` retry inside one
``generate`` call, so only app-side retries around the model show one span per attempt); a run
that *fails* on hitting max_steps (it ends ok with a substitute answer).
"""

from __future__ import annotations

import os

# Stay offline and quiet: no hub calls, no telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DISABLE_TELEMETRY", "1")
os.environ.setdefault("OPENAI_API_KEY", "sk-test-offline")

import argparse
import contextvars
import copy
import importlib.resources
import json
import logging
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import yaml
from openinference.instrumentation.smolagents import SmolagentsInstrumentor
from pydantic import BaseModel
from smolagents import CodeAgent, LogLevel, Model, OpenAIModel, Tool, ToolCallingAgent, tool
from smolagents.memory import ActionStep
from smolagents.models import ChatMessage, is_rate_limit_error
from smolagents.utils import Retrying

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus_kit import Corpus

logging.getLogger("smolagents").setLevel(logging.CRITICAL)
QUIET = LogLevel.OFF
API_BASE = "https://api.openai.com/v1"

# --------------------------------------------------------------------------------------------
# The fake OpenAI chat-completions endpoint
# --------------------------------------------------------------------------------------------


def call(name: str, **arguments: Any) -> dict:
    """A reply with one tool call."""
    return {"tool_calls": [(name, arguments)]}


def calls(*pairs: tuple[str, dict]) -> dict:
    """A reply with parallel tool calls."""
    return {"tool_calls": list(pairs)}


def answer(text: Any) -> dict:
    return call("final_answer", answer=text)


def say(text: str) -> dict:
    """A plain content reply (CodeAgent actions, prose, plans)."""
    return {"content": text}


def code(thought: str, src: str) -> dict:
    return say(f"Thought: {thought}\n<code>\n{src.strip()}\n</code>")


def rate_limited(model: str = "gpt-4o-mini", kind: str = "requests") -> dict:
    if kind == "requests":
        msg = (f"Rate limit reached for {model} in organization org-7Qh2mXc1 on requests per min (RPM): "
               "Limit 500, Used 500, Requested 1. Please try again in 120ms. "
               "Visit https://platform.openai.com/account/rate-limits to learn more.")
    else:
        msg = (f"Rate limit reached for {model} in organization org-7Qh2mXc1 on tokens per min (TPM): "
               "Limit 30000, Used 29310, Requested 1544. Please try again in 1.708s. "
               "Visit https://platform.openai.com/account/rate-limits to learn more.")
    return {"status": 429, "error": {"message": msg, "type": kind, "param": None, "code": "rate_limit_exceeded"}}


def overloaded() -> dict:
    return {"status": 503, "error": {"message": "The server is overloaded or not ready yet.", "type": "server_error",
                                     "param": None, "code": None}}


def server_error() -> dict:
    return {"status": 500, "error": {"message": "The server had an error while processing your request. Sorry about that!",
                                     "type": "server_error", "param": None, "code": None}}


def context_overflow(tokens: int, limit: int = 128000) -> dict:
    return {"status": 400, "error": {
        "message": f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
                   f"{tokens} tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}


def timeout() -> dict:
    return {"transport": "timeout"}


def refused() -> dict:
    return {"transport": "connect"}


def no_choices() -> dict:
    return {"no_choices": True}


class FakeOpenAI:
    """In-process POST /v1/chat/completions: one scripted reply per request, in order."""

    def __init__(self, script: list[dict], served_model: str, headers: dict[str, str] | None = None):
        self.script = list(script)
        self.served_model = served_model
        self.extra_headers = headers or {}
        self.n = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path.endswith("/chat/completions"), request.url
        if not self.script:
            raise AssertionError(f"script exhausted after {self.n} requests")
        step = self.script.pop(0)
        self.n += 1
        body = json.loads(request.content)
        prompt_tokens = max(1, len(request.content) // 4)
        headers = {"x-request-id": f"req_{self.n:04d}corpus", "openai-processing-ms": "412", **self.extra_headers}
        if "transport" in step:
            if step["transport"] == "timeout":
                raise httpx2.ReadTimeout("The read operation timed out", request=request)
            raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)
        if "status" in step:
            return httpx2.Response(step["status"], json={"error": step["error"]}, headers=headers)
        created = 1767225600 + self.n
        if step.get("no_choices"):
            return httpx2.Response(200, headers=headers, json={
                "id": f"chatcmpl-corpus{self.n}", "object": "chat.completion", "created": created,
                "model": self.served_model, "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": prompt_tokens}})
        message: dict[str, Any] = {"role": "assistant", "content": step.get("content"), "refusal": None}
        finish = "stop"
        if step.get("tool_calls"):
            message["tool_calls"] = [
                {"id": f"call_{self.n}_{i}", "type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                for i, (name, args) in enumerate(step["tool_calls"])]
            finish = "tool_calls"
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        assert body.get("model"), body
        reply = {"id": f"chatcmpl-corpus{self.n}", "object": "chat.completion", "created": created,
                 "model": self.served_model, "system_fingerprint": "fp_corpus",
                 "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                 "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                           "total_tokens": prompt_tokens + completion_tokens}}
        if step.get("no_usage"):
            del reply["usage"]
        return httpx2.Response(200, headers=headers, json=reply)


SERVED = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06", "gpt-4.1": "gpt-4.1-2025-04-14",
          "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14"}


def gpt(script: list[dict], model_id: str = "gpt-4o-mini", *, sdk_retries: int = 0, retry: bool = True,
        headers: dict[str, str] | None = None) -> OpenAIModel:
    """smolagents' OpenAIModel on the real openai client, whose transport is the fake endpoint.

    ``retry`` is smolagents' ApiModel retry on rate limits (60 s waits: scenarios that hit a 429 on
    it either turn it off or shorten it); ``sdk_retries`` is the openai client's max_retries.
    """
    fake = FakeOpenAI(script, SERVED.get(model_id, model_id), headers)
    http_client = httpx2.Client(transport=httpx2.MockTransport(fake))
    return OpenAIModel(model_id=model_id, api_base=API_BASE, api_key="sk-test-offline", retry=retry,
                       client_kwargs={"max_retries": sdk_retries, "http_client": http_client})


TRANSIENT = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)


class ResilientModel(Model):
    """App-side retry around a provider model with smolagents' own ``Retrying`` helper.

    Each attempt is a separate ``OpenAIModel.generate`` call (and LLM span); ``wait`` seconds
    doubles per retry (0.1 -> 0.2 s, 0.4 s); ``wait=0`` retries at once.
    """

    def __init__(self, inner: OpenAIModel, attempts: int = 3, wait: float = 0.1):
        super().__init__(model_id=inner.model_id)
        self.inner = inner
        self.inner.retryer = Retrying(max_attempts=1)  # this class owns the retries
        self.retryer = Retrying(max_attempts=attempts, wait_seconds=wait, exponential_base=2.0, jitter=False,
                                retry_predicate=lambda e: isinstance(e, TRANSIENT), reraise=True)

    def generate(self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs):
        return self.retryer(self.inner.generate, messages, stop_sequences=stop_sequences,
                            response_format=response_format, tools_to_call_from=tools_to_call_from, **kwargs)

    def parse_tool_calls(self, message: ChatMessage) -> ChatMessage:
        return self.inner.parse_tool_calls(message)


class OutputGuardrailTripped(Exception):
    """The app's output guardrail refused a model reply."""


class GuardedModel(Model):
    """A provider model behind an output guardrail that blocks card numbers in model output."""

    def __init__(self, inner: OpenAIModel):
        super().__init__(model_id=inner.model_id)
        self.inner = inner

    def generate(self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs):
        reply = self.inner.generate(messages, stop_sequences=stop_sequences, response_format=response_format,
                                    tools_to_call_from=tools_to_call_from, **kwargs)
        text = json.dumps([tc.function.arguments for tc in reply.tool_calls or []]) + str(reply.content or "")
        if "4111" in text:
            raise OutputGuardrailTripped("PII guardrail: model output contains a payment card number (pattern card_pan)")
        return reply

    def parse_tool_calls(self, message: ChatMessage) -> ChatMessage:
        return self.inner.parse_tool_calls(message)


# --------------------------------------------------------------------------------------------
# In-process services behind the tools
# --------------------------------------------------------------------------------------------


class Service:
    """A fake HTTP service: routes answer from a dict; queued faults are served first, in order."""

    def __init__(self, base_url: str, routes: Callable[[httpx.Request], httpx.Response]):
        self.routes = routes
        self.faults: list[str] = []
        self.client = httpx.Client(base_url=base_url, transport=httpx.MockTransport(self._handle), timeout=5.0)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "timeout":
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            if fault == "connect":
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            if fault != "ok":
                return httpx.Response(int(fault), text="upstream unavailable", request=request)
        return self.routes(request)


ORDERS = {
    "A-1001": {"status": "delivered", "total": 42.50, "delivered": "2025-11-02", "tracking": "1Z999AA10123456784"},
    "A-1002": {"status": "in transit", "total": 118.00, "delivered": None, "tracking": "1Z999AA10123456791"},
    "A-2041": {"status": "delivered", "total": 64.90, "delivered": "2025-06-11", "tracking": "1Z999AA10123450017"},
    "A-2077": {"status": "processing", "total": 19.99, "delivered": None, "tracking": None},
    "A-3150": {"status": "delivered", "total": 230.00, "delivered": "2025-12-20", "tracking": "9400110200881234567890"},
}
for _i in range(10):
    ORDERS[f"B-5{_i:02d}"] = {"status": ["delivered", "in transit", "processing"][_i % 3], "total": 10.0 + 7 * _i,
                               "delivered": f"2025-12-0{_i % 9 + 1}" if _i % 3 == 0 else None,
                               "tracking": f"1Z88{_i:04d}" if _i % 3 != 2 else None}

HUGE_HISTORY: dict[str, int] = {"C-9001": 300, "C-4410": 2}


def _carrier(request: httpx.Request) -> httpx.Response:
    number = request.url.path.rsplit("/", 1)[-1]
    return httpx.Response(200, json={"tracking_number": number, "status": "In transit",
                                     "last_scan": "Memphis, TN hub", "eta": "2026-01-09"}, request=request)


def _kb(request: httpx.Request) -> httpx.Response:
    q = request.url.params.get("q", "")
    return httpx.Response(200, json={"hits": [{"id": "kb-112", "title": "Returns and refunds policy",
                                               "snippet": f"Refunds are accepted within 30 days of delivery ({q})."}]},
                          request=request)


def _search(request: httpx.Request) -> httpx.Response:
    q = request.url.params.get("q", "")
    if "zzz" in q:
        return httpx.Response(200, json={"results": []}, request=request)
    slug = "-".join(q.lower().split()[:4])
    return httpx.Response(200, json={"results": [
        {"title": f"{q.title()} - review", "url": f"https://papers.example.org/{slug}"},
        {"title": f"{q.title()} - survey", "url": f"https://arxiv.example.org/abs/{zlib.crc32(slug.encode()) % 9000 + 1000}"}]},
        request=request)


PAGES: dict[str, str] = {}


def _pages(request: httpx.Request) -> httpx.Response:
    url = str(request.url)
    if "missing" in url:
        return httpx.Response(404, text="Not Found", request=request)
    body = PAGES.get(url, f"Abstract. This article ({url.rsplit('/', 1)[-1]}) reports results on the topic. "
                          "Method: a controlled study on 1,200 samples. Result: a 14% improvement over baseline.")
    return httpx.Response(200, text=body, request=request)


CARRIER = Service("https://api.carrier.example", _carrier)
KB = Service("https://kb.internal.example", _kb)
SEARCH = Service("https://search.example.com", _search)
WEB = Service("https://papers.example.org", _pages)


def reset_world() -> None:
    for svc in (CARRIER, KB, SEARCH, WEB):
        svc.faults.clear()
    PAGES.clear()


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order in the order database.

    Args:
        order_id: The order number, e.g. "A-1001".
    """
    order = ORDERS.get(order_id)
    if order is None:
        return f"No order found with id {order_id}."
    return json.dumps({"order_id": order_id, **order})


@tool
def order_history(customer_id: str) -> str:
    """Return every order and support message of a customer.

    Args:
        customer_id: The customer id, e.g. "C-4410".
    """
    n = HUGE_HISTORY.get(customer_id, 3)
    return "\n".join(f"{customer_id} order #{i}: 1x item SKU-{i:05d}, note: customer asked about delivery window"
                     for i in range(n))


class RefundTool(Tool):
    name = "issue_refund"
    description = "Issue a refund for a delivered order. Refunds are only allowed within 30 days of delivery."
    inputs = {"order_id": {"type": "string", "description": "The order number."},  # noqa: RUF012
              "amount": {"type": "number", "description": "Amount to refund in USD."}}
    output_type = "string"

    def forward(self, order_id: str, amount: float) -> str:
        order = ORDERS[order_id]
        if order["delivered"] and order["delivered"] < "2025-11-01":
            raise ValueError(f"Refund window closed: order {order_id} was delivered on {order['delivered']} "
                             "(more than 30 days ago). Offer store credit instead.")
        if amount > order["total"]:
            raise ValueError(f"Refund amount {amount} exceeds order total {order['total']}.")
        return f"Refund R-{order_id[2:]}-01 of ${amount:.2f} issued for {order_id}."


class ShipmentTrackingTool(Tool):
    name = "track_shipment"
    description = "Track a parcel with the carrier's API."
    inputs = {"tracking_number": {"type": "string", "description": "The carrier tracking number."}}  # noqa: RUF012 (smolagents Tool convention)
    output_type = "string"

    def forward(self, tracking_number: str) -> str:
        resp = CARRIER.client.get(f"/v2/track/{tracking_number}")
        resp.raise_for_status()
        data = resp.json()
        return f"{data['tracking_number']}: {data['status']}, last scan {data['last_scan']}, ETA {data['eta']}"


class KBVectorSearchTool(Tool):
    name = "kb_vector_search"
    description = "Nearest-neighbour search over help-centre articles."
    inputs = {"query": {"type": "string", "description": "What to search for."}}  # noqa: RUF012 (smolagents Tool convention)
    output_type = "object"

    def forward(self, query: str) -> dict:
        resp = KB.client.get("/v1/search", params={"q": query, "k": 3})
        resp.raise_for_status()
        return resp.json()


kb_vector_search = KBVectorSearchTool()


@tool
def search_help_center(query: str) -> str:
    """Search the help-centre articles for policies and how-tos.

    Args:
        query: What to look for, e.g. "refund policy for damaged items".
    """
    try:
        hits = kb_vector_search(query=query)["hits"]
    except Exception:  # the vector store is best effort
        hits = []
    if not hits:
        return "No matching help-centre articles."
    return "\n".join(f"[{h['id']}] {h['title']}: {h['snippet']}" for h in hits)


@tool
def get_customer(customer_id: str) -> str:
    """Fetch a customer's profile.

    Args:
        customer_id: The customer id, e.g. "C-4410".
    """
    return json.dumps({"customer_id": customer_id, "name": "Dana Ortiz", "tier": "gold", "open_tickets": 1})


@tool
def web_search(query: str) -> str:
    """Search the web and return the top results as title and URL.

    Args:
        query: The search query.
    """
    resp = SEARCH.client.get("/v1/search", params={"q": query})
    resp.raise_for_status()
    results = resp.json()["results"]
    if not results:
        return f"No results found for '{query}'."
    return "\n".join(f"- {r['title']} <{r['url']}>" for r in results)


class PageFetchTool(Tool):
    name = "fetch_page"
    description = "Download a web page or paper and return its text."
    inputs = {"url": {"type": "string", "description": "The URL to fetch."}}  # noqa: RUF012 (smolagents Tool convention)
    output_type = "string"

    def forward(self, url: str) -> str:
        resp = WEB.client.get(url)
        resp.raise_for_status()
        return resp.text


@tool
def summarise(text: str, max_words: int) -> str:
    """Summarise a text in at most max_words words.

    Args:
        text: The text to summarise.
        max_words: Maximum length of the summary in words.
    """
    words = text.split()
    return " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")


@tool
def lookup_citation(doi: str) -> str:
    """Resolve a DOI to a formatted citation.

    Args:
        doi: The DOI, e.g. "10.1145/3534678.3539321".
    """
    return f"Lee, J. et al. (2022). Retrieval-augmented agents. doi:{doi}"


# --------------------------------------------------------------------------------------------
# Agents
# --------------------------------------------------------------------------------------------


def tc_agent(tools: list, model: Model, **kw: Any) -> ToolCallingAgent:
    return ToolCallingAgent(tools=tools, model=model, verbosity_level=QUIET, **kw)


def code_agent(tools: list, model: Model, **kw: Any) -> CodeAgent:
    return CodeAgent(tools=tools, model=model, verbosity_level=QUIET, **kw)


def templates(kind: str) -> dict:
    name = "toolcalling_agent.yaml" if kind == "tool" else "code_agent.yaml"
    return copy.deepcopy(yaml.safe_load(importlib.resources.files("smolagents.prompts").joinpath(name).read_text()))


def billing(script: list[dict], **kw: Any) -> ToolCallingAgent:
    return tc_agent([lookup_order, RefundTool()], gpt(script), name="billing_agent",
                    description="Handles invoices, charges and refunds for an order.", **kw)


def shipping(script: list[dict], **kw: Any) -> ToolCallingAgent:
    return tc_agent([lookup_order, ShipmentTrackingTool()], gpt(script), name="shipping_agent",
                    description="Tracks parcels and answers delivery questions.", **kw)


def searcher(script: list[dict], **kw: Any) -> ToolCallingAgent:
    return tc_agent([web_search, PageFetchTool()], gpt(script, "gpt-4.1-mini"), name="search_agent",
                    description="Finds and reads sources on the web.", **kw)


def analyst(script: list[dict], **kw: Any) -> ToolCallingAgent:
    return tc_agent([summarise], gpt(script, "gpt-4.1-mini"), name="analyst_agent",
                    description="Analyses and compares sources the search agent found.", **kw)


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------

SCENARIOS: list[tuple[str, str, str, bool, Callable[[], Any]]] = []


def scenario(name: str, layer: str = "none", mode: str = "none", failed: bool = False):
    def register(fn: Callable[[], Any]) -> Callable[[], Any]:
        SCENARIOS.append((name, layer, mode, failed, fn))
        return fn
    return register


# ---------------------------------------------------------------- clean runs

@scenario("support_order_status_ok")
def _():
    agent = tc_agent([lookup_order, ShipmentTrackingTool()], gpt([
        call("lookup_order", order_id="A-1002"),
        call("track_shipment", tracking_number="1Z999AA10123456791"),
        answer("Order A-1002 is in transit; last scan at the Memphis hub, expected on 9 January."),
    ]))
    return agent.run("Where is my order A-1002?")


@scenario("research_code_search_summarise_ok")
def _():
    agent = code_agent([web_search, PageFetchTool(), summarise], gpt([
        code("Search first.", 'print(web_search(query="retrieval augmented generation evaluation"))'),
        code("Read the review and summarise it.",
             'text = fetch_page(url="https://papers.example.org/retrieval-augmented-generation-evaluation")\n'
             'print(summarise(text=text, max_words=25))'),
        code("Answer.", 'final_answer("A controlled study on 1,200 samples finds a 14% improvement over baseline.")'),
    ], "gpt-4.1"))
    return agent.run("What does recent work say about evaluating retrieval-augmented generation?")


@scenario("support_rate_limit_backoff_then_ok")
def _():
    model = ResilientModel(gpt([rate_limited(), call("lookup_order", order_id="A-2077"),
                                answer("Order A-2077 is still being processed; it has not shipped yet.")]), wait=0.1)
    return tc_agent([lookup_order], model).run("Has order A-2077 shipped?")


@scenario("research_overloaded_backoff_then_ok")
def _():
    model = ResilientModel(gpt([
        code("Search.", 'print(web_search(query="sparse mixture of experts routing"))'),
        overloaded(),
        code("Done.", 'final_answer("Two relevant sources: a review and a survey of sparse MoE routing.")'),
    ], "gpt-4.1"), wait=0.12)
    return code_agent([web_search], model).run("Find two sources on sparse mixture-of-experts routing.")


@scenario("support_handoff_to_billing_ok")
def _():
    sub = billing([call("lookup_order", order_id="A-3150"), call("issue_refund", order_id="A-3150", amount=230.0),
                   answer("Refund R-3150-01 of $230.00 issued for A-3150.")])
    desk = tc_agent([get_customer], gpt([
        call("billing_agent", task="Customer C-4410 wants a full refund for order A-3150 (arrived broken)."),
        answer("Your refund of $230.00 for order A-3150 has been issued (ref R-3150-01)."),
    ]), managed_agents=[sub], name="support_desk")
    return desk.run("Order A-3150 arrived broken, I want my money back. Customer C-4410.")


@scenario("research_code_manager_handoff_ok")
def _():
    sub = searcher([call("web_search", query="protein folding benchmarks 2025"),
                    answer("Two sources: a review and a survey of 2025 protein folding benchmarks.")])
    lead = code_agent([], gpt([
        code("Delegate the search.", 'found = search_agent(task="Find sources on protein folding benchmarks 2025.")\nprint(found)'),
        code("Answer.", 'final_answer("Sources: a 2025 review and a survey of protein folding benchmarks.")'),
    ], "gpt-4.1"), managed_agents=[sub], name="research_lead")
    return lead.run("Which sources cover protein folding benchmarks in 2025?")


@scenario("research_revision_round_ok")
def _():
    writer = tc_agent([], gpt([answer("Draft: Agents fail mostly at hand-offs."),
                               answer("Draft v2: Agents fail mostly at hand-offs (41% of incidents) and at retries.")],
                              "gpt-4.1"), name="writer_agent", description="Writes and revises short reports.")
    critic = tc_agent([], gpt([answer("Critique: add the figure from the study and mention retries.")], "gpt-4.1-mini"),
                      name="critic_agent", description="Reviews a draft and lists concrete fixes.")
    lead = tc_agent([], gpt([
        call("writer_agent", task="Write a two-sentence summary of why multi-agent pipelines fail."),
        call("critic_agent", task="Review: 'Agents fail mostly at hand-offs.'"),
        call("writer_agent", task="Revise the draft: add the 41% figure and mention retries."),
        answer("Agents fail mostly at hand-offs (41% of incidents) and at retries."),
    ], "gpt-4.1"), managed_agents=[writer, critic], name="research_lead")
    return lead.run("Write a short reviewed summary of why multi-agent pipelines fail.")


@scenario("support_refund_refused_handled")
def _():
    agent = tc_agent([lookup_order, RefundTool()], gpt([
        call("issue_refund", order_id="A-2041", amount=64.90),
        answer("Order A-2041 was delivered on 11 June, outside our 30-day refund window, so I can't refund it; "
               "I can offer store credit of $64.90 instead."),
    ]))
    return agent.run("Please refund order A-2041.")


@scenario("research_page_404_handled")
def _():
    agent = tc_agent([web_search, PageFetchTool()], gpt([
        call("fetch_page", url="https://papers.example.org/missing/tool-use-survey"),
        call("web_search", query="tool use survey language models"),
        call("fetch_page", url="https://papers.example.org/tool-use-survey-language"),
        answer("The survey reports a 14% improvement over baseline on 1,200 samples."),
    ], "gpt-4.1-mini"))
    return agent.run("Summarise the key result of the tool-use survey.")


@scenario("support_long_conversation_ok")
def _():
    ids = [f"B-5{i:02d}" for i in range(10)]
    script = [call("lookup_order", order_id=i) for i in ids]
    script += [call("track_shipment", tracking_number="1Z880001"), call("track_shipment", tracking_number="1Z880004"),
               answer("Ten orders checked: 4 delivered, 3 in transit (two tracked, ETA 9 January), 3 processing.")]
    agent = tc_agent([lookup_order, ShipmentTrackingTool()], gpt(script), max_steps=20)
    return agent.run("Give me the status of all ten orders of bulk account B (B-500 to B-509).")


@scenario("research_long_code_run_ok")
def _():
    topics = ["agent memory", "tool learning", "planning with llms", "multi-agent debate", "self-reflection",
              "code generation agents", "web agents", "retrieval agents", "agent evaluation", "agent safety"]
    script = [code(f"Search {t}.", f'print(web_search(query="{t} survey"))') for t in topics]
    script.append(code("Compile.", 'final_answer("Ten surveys found, one per topic; see the list above.")'))
    return code_agent([web_search], gpt(script, "gpt-4.1"), max_steps=15).run(
        "Find one survey for each of ten agent research topics.")


@scenario("support_parallel_tool_calls_ok")
def _():
    agent = tc_agent([lookup_order, get_customer], gpt([
        calls(("get_customer", {"customer_id": "C-4410"}), ("lookup_order", {"order_id": "A-1001"}),
              ("lookup_order", {"order_id": "A-1002"})),
        answer("Dana (gold tier): A-1001 delivered on 2 November, A-1002 in transit."),
    ]))
    return agent.run("Customer C-4410 asks about orders A-1001 and A-1002.")


@scenario("research_planning_step_ok")
def _():
    agent = tc_agent([web_search, lookup_citation], gpt([
        say("1. Search for the paper.\n2. Resolve its DOI.\n3. Answer with the citation.\n<end_plan>"),
        call("web_search", query="retrieval-augmented agents Lee 2022"),
        call("lookup_citation", doi="10.1145/3534678.3539321"),
        answer("Lee, J. et al. (2022). Retrieval-augmented agents. doi:10.1145/3534678.3539321"),
    ], "gpt-4.1"), planning_interval=5)
    return agent.run("Give me the full citation of Lee et al. 2022 on retrieval-augmented agents.")


class Ticket(BaseModel):
    order_id: str
    category: str
    priority: str


def validate_ticket(final_answer: Any, memory: Any, agent: Any = None) -> bool:
    Ticket.model_validate_json(final_answer if isinstance(final_answer, str) else json.dumps(final_answer))
    return True


@scenario("support_final_answer_check_passes")
def _():
    agent = tc_agent([lookup_order], gpt([
        call("lookup_order", order_id="A-1001"),
        answer('{"order_id": "A-1001", "category": "refund", "priority": "normal"}'),
    ]), final_answer_checks=[validate_ticket])
    return agent.run("Triage: 'I want to return A-1001'. Answer with a ticket JSON (order_id, category, priority).")


@scenario("research_sdk_retry_after_invisible_ok")
def _():
    # The openai SDK retries the 429 itself (retry-after-ms: 200) inside one OpenAIModel.generate span.
    model = gpt([rate_limited("gpt-4.1-mini"), call("web_search", query="llm watermarking"),
                 answer("Found a review and a survey on LLM watermarking.")], "gpt-4.1-mini", sdk_retries=2,
                headers={"retry-after-ms": "200"})
    return tc_agent([web_search], model).run("Find sources on LLM watermarking.")


@scenario("support_two_specialists_ok")
def _():
    ship = shipping([call("track_shipment", tracking_number="1Z999AA10123456791"),
                     answer("1Z999AA10123456791 in transit, ETA 9 January.")])
    bill = billing([call("lookup_order", order_id="A-1002"), answer("A-1002 was charged $118.00 once; no double charge.")])
    desk = tc_agent([], gpt([
        call("shipping_agent", task="Where is parcel 1Z999AA10123456791 (order A-1002)?"),
        call("billing_agent", task="Was order A-1002 charged twice?"),
        answer("Your parcel arrives around 9 January, and you were charged $118.00 only once."),
    ]), managed_agents=[ship, bill], name="support_desk")
    return desk.run("Where is my order A-1002 and why was I charged twice?")


@scenario("research_empty_results_refined_ok")
def _():
    agent = tc_agent([web_search], gpt([
        call("web_search", query="zzz quantum llm agents"),
        call("web_search", query="quantum computing language model agents"),
        answer("Two sources found on quantum computing for language-model agents."),
    ], "gpt-4.1-mini"))
    return agent.run("Find sources on quantum computing for LLM agents.")


@scenario("support_code_multi_tool_ok")
def _():
    agent = code_agent([lookup_order, get_customer], gpt([
        code("Look up the customer and both orders in one go.",
             'c = get_customer(customer_id="C-4410")\nfor oid in ["A-1001", "A-3150"]:\n    print(lookup_order(order_id=oid))\nprint(c)'),
        code("Answer.", 'final_answer("Both orders of Dana Ortiz (gold) were delivered: A-1001 on 2 Nov, A-3150 on 20 Dec.")'),
    ], "gpt-4o"))
    return agent.run("Summarise the orders A-1001 and A-3150 of customer C-4410.")


@scenario("research_tool_timeout_backoff_then_ok")
def _():
    # The fetch tool retries its read timeout itself with back-off (a nested tool span per attempt).
    class RetryingFetchTool(Tool):
        name = "fetch_page_reliably"
        description = "Download a page, retrying transient network errors with exponential back-off."
        inputs = {"url": {"type": "string", "description": "The URL to fetch."}}  # noqa: RUF012 (smolagents Tool convention)
        output_type = "string"

        def forward(self, url: str) -> str:
            fetch = PageFetchTool()
            retryer = Retrying(max_attempts=3, wait_seconds=0.1, exponential_base=2.0, jitter=False,
                               retry_predicate=lambda e: isinstance(e, httpx.TransportError), reraise=True)
            return retryer(fetch, url=url)

    WEB.faults = ["timeout"]
    agent = tc_agent([RetryingFetchTool()], gpt([
        call("fetch_page_reliably", url="https://papers.example.org/speculative-decoding"),
        answer("Speculative decoding gives a 14% improvement over baseline in a 1,200-sample study."),
    ], "gpt-4.1-mini"))
    return agent.run("What does the speculative decoding paper report?")


@scenario("support_code_refund_refused_handled")
def _():
    agent = code_agent([lookup_order, RefundTool()], gpt([
        code("Refund it.", 'print(issue_refund(order_id="A-2041", amount=64.90))'),
        code("The refund window is closed; offer store credit as the policy says.",
             'final_answer("A-2041 was delivered on 11 June, past the 30-day refund window, so it cannot be refunded; '
             'we can offer $64.90 in store credit instead.")'),
    ], "gpt-4o"))
    return agent.run("Refund order A-2041 to my card.")


@scenario("research_code_manager_revision_round_ok")
def _():
    writer = tc_agent([], gpt([answer("Draft: KV-cache quantisation halves memory."),
                               answer("Draft v2: 4-bit KV-cache quantisation halves serving memory at <1% accuracy loss.")],
                              "gpt-4.1"), name="writer_agent", description="Writes and revises short reports.")
    critic = tc_agent([], gpt([answer("Be specific: bit width and the accuracy cost.")], "gpt-4.1-mini"),
                      name="critic_agent", description="Reviews a draft and lists concrete fixes.")
    lead = code_agent([], gpt([
        code("Draft, review, revise.",
             'draft = writer_agent(task="One sentence on KV-cache quantisation.")\n'
             'review = critic_agent(task="Review this draft: " + draft)\nprint(review)'),
        code("Revise with the critique.",
             'final = writer_agent(task="Revise the KV-cache draft: state the bit width and the accuracy cost.")\nprint(final)'),
        code("Answer.", 'final_answer("4-bit KV-cache quantisation halves serving memory at <1% accuracy loss.")'),
    ], "gpt-4.1"), managed_agents=[writer, critic], name="research_lead")
    return lead.run("Write one reviewed sentence on KV-cache quantisation.")


@scenario("support_carrier_connect_backoff_then_ok")
def _():
    # The tracking tool retries the carrier's refused connection with back-off (nested tool span per attempt).
    class ReliableTrackingTool(Tool):
        name = "track_parcel"
        description = "Track a parcel, retrying network errors with exponential back-off."
        inputs = {"tracking_number": {"type": "string", "description": "The carrier tracking number."}}  # noqa: RUF012 (smolagents Tool convention)
        output_type = "string"

        def forward(self, tracking_number: str) -> str:
            retryer = Retrying(max_attempts=4, wait_seconds=0.1, exponential_base=2.0, jitter=False,
                               retry_predicate=lambda e: isinstance(e, httpx.TransportError), reraise=True)
            return retryer(ShipmentTrackingTool(), tracking_number=tracking_number)

    CARRIER.faults = ["connect"]
    agent = tc_agent([ReliableTrackingTool()], gpt([
        call("track_parcel", tracking_number="9400110200881234567890"),
        answer("Your parcel 9400110200881234567890 is in transit and due on 9 January."),
    ]))
    return agent.run("Where is parcel 9400110200881234567890?")


@scenario("research_manager_distinct_delegations_ok")
def _():
    topics = ["speculative decoding", "paged attention", "continuous batching", "prefix caching"]
    sub_script: list[dict] = []
    for t in topics:
        sub_script += [call("web_search", query=t), answer(f"Two sources on {t}.")]
    sub = searcher(sub_script)
    lead = tc_agent([], gpt([call("search_agent", task=f"Find sources on {t} for LLM serving.") for t in topics]
                            + [answer("Sources found for all four serving techniques.")], "gpt-4.1"),
                    managed_agents=[sub], name="research_lead")
    return lead.run("Collect sources on four LLM serving techniques.")


# ---------------------------------------------------------------- handoff

@scenario("support_prose_no_json_until_max_steps", "handoff", "output_parse_error", True)
def _():
    model = gpt([say("Sure! I'd be happy to help you with your refund. Let me check that order for you."),
                 say("I have checked the order and everything looks fine. Is there anything else?"),
                 say("Your refund should be on its way!"),
                 say("Your refund for A-1001 should be on its way.")], "gpt-4o-mini")
    return tc_agent([lookup_order, RefundTool()], model, max_steps=3).run("Refund order A-1001 please.")


@scenario("research_code_block_missing_then_ok", "handoff", "output_parse_error", False)
def _():
    agent = code_agent([web_search], gpt([
        say("I will search the web for diffusion transformers and then give the final answer."),
        code("Search properly this time.", 'print(web_search(query="diffusion transformers scaling"))'),
        code("Answer.", 'final_answer("A review and a survey of diffusion-transformer scaling.")'),
    ], "gpt-4.1"))
    return agent.run("Find sources on scaling diffusion transformers.")


@scenario("research_structured_code_bad_json_until_max_steps", "handoff", "output_parse_error", True)
def _():
    broken = '{"thought": "Search for the benchmark", "code": "print(web_search(query=\\"swe-bench verified\\"))"'
    agent = code_agent([web_search], gpt([say(broken), say(broken + ", }"),
                                          say("SWE-bench Verified has 500 human-validated tasks.")], "gpt-4.1"),
                       use_structured_outputs_internally=True, max_steps=2)
    return agent.run("How many tasks does SWE-bench Verified have?")


@scenario("support_malformed_json_blob_then_ok", "handoff", "output_parse_error", False)
def _():
    agent = tc_agent([lookup_order], gpt([
        say('Action:\n{"name": "lookup_order", "arguments": {"order_id": "A-2077",}}'),
        call("lookup_order", order_id="A-2077"),
        answer("Order A-2077 is still processing."),
    ], "gpt-4o-mini"))
    return agent.run("Status of A-2077?")


@scenario("support_ticket_schema_missing_field", "handoff", "schema_mismatch", True)
def _():
    bad = '{"order_id": "A-1002", "category": "delivery"}'
    agent = tc_agent([lookup_order], gpt([answer(bad), answer(bad), answer(bad), say(bad)]),
                     final_answer_checks=[validate_ticket], max_steps=3)
    return agent.run("Triage: 'my parcel A-1002 is late'. Answer with a ticket JSON (order_id, category, priority).")


class Citation(BaseModel):
    title: str
    year: int
    doi: str


def validate_citation(final_answer: Any, memory: Any, agent: Any = None) -> bool:
    Citation.model_validate(final_answer)
    return True


@scenario("research_citation_schema_then_fixed", "handoff", "schema_mismatch", False)
def _():
    agent = code_agent([lookup_citation], gpt([
        code("Resolve and return.", 'print(lookup_citation(doi="10.1145/3534678.3539321"))\n'
             'final_answer({"title": "Retrieval-augmented agents", "year": "2022a", "doi": "10.1145/3534678.3539321"})'),
        code("Fix the year.", 'final_answer({"title": "Retrieval-augmented agents", "year": 2022, "doi": "10.1145/3534678.3539321"})'),
    ], "gpt-4.1"), final_answer_checks=[validate_citation])
    return agent.run("Return the citation of DOI 10.1145/3534678.3539321 as a dict with title, year, doi.")


class RefundPlan(BaseModel):
    order_id: str
    amount: float
    method: str


def validate_refund_plan(final_answer: Any, memory: Any, agent: Any = None) -> bool:
    RefundPlan.model_validate_json(final_answer)
    return True


@scenario("support_subagent_refund_plan_schema", "handoff", "schema_mismatch", True)
def _():
    sub = billing([call("lookup_order", order_id="A-3150"),
                   answer('{"order_id": "A-3150", "amount": "two hundred thirty", "method": "card"}'),
                   answer('{"order_id": "A-3150", "amount": "230 USD", "method": "card"}'),
                   say("Refund A-3150 for 230 USD to the card.")],
                  final_answer_checks=[validate_refund_plan], max_steps=3)
    desk = tc_agent([], gpt([
        call("billing_agent", task="Prepare a refund plan JSON (order_id, amount, method) for A-3150."),
        answer("Refund plan: refund A-3150 for 230 USD to the card."),
    ]), managed_agents=[sub], name="support_desk")
    return desk.run("Prepare the refund for A-3150.")


@scenario("support_refund_amount_wrong_type_then_fixed", "handoff", "invalid_tool_args", False)
def _():
    agent = tc_agent([lookup_order, RefundTool()], gpt([
        call("issue_refund", order_id="A-3150", amount="two hundred"),
        call("issue_refund", order_id="A-3150", amount=200.0),
        answer("Refund R-3150-01 of $200.00 issued for A-3150."),
    ]))
    return agent.run("Refund $200 on order A-3150.")


@scenario("research_summarise_missing_arg_until_max_steps", "handoff", "invalid_tool_args", True)
def _():
    agent = tc_agent([summarise], gpt([
        call("summarise", text="Large language models can use tools via function calling ..."),
        call("summarise", text="Large language models can use tools via function calling ...", words=50),
        call("summarise", text="Large language models can use tools via function calling ..."),
        say("LLMs can use tools."),
    ], "gpt-4.1-mini"), max_steps=3)
    return agent.run("Summarise this paragraph in 50 words: Large language models can use tools via function calling ...")


@scenario("support_code_unexpected_kwarg_then_ok", "handoff", "invalid_tool_args", False)
def _():
    agent = code_agent([ShipmentTrackingTool()], gpt([
        code("Track it.", 'print(track_shipment(tracking_id="1Z999AA10123456784"))'),
        code("Use the right argument name.", 'print(track_shipment(tracking_number="1Z999AA10123456784"))'),
        code("Answer.", 'final_answer("Parcel 1Z999AA10123456784 is in transit, ETA 9 January.")'),
    ], "gpt-4o"))
    return agent.run("Track parcel 1Z999AA10123456784.")


# ---------------------------------------------------------------- state

@scenario("support_history_context_overflow", "state", "context_overflow", True)
def _():
    agent = tc_agent([get_customer, order_history], gpt([
        call("get_customer", customer_id="C-9001"),
        call("order_history", customer_id="C-9001"),
        context_overflow(131245),
    ]))
    return agent.run("Customer C-9001 says we never answered any of their messages. Check everything.")


@scenario("research_code_pages_context_overflow", "state", "context_overflow", True)
def _():
    for i in range(3):
        PAGES[f"https://papers.example.org/long-context-{i}"] = "Section text. " * 6000
    agent = code_agent([PageFetchTool()], gpt([
        code("Read all three papers.", 'pages = [fetch_page(url=f"https://papers.example.org/long-context-{i}") for i in range(3)]\n'
             'print("\\n".join(pages))'),
        context_overflow(1049871, 1047576),
    ], "gpt-4.1"), max_print_outputs_length=200000)
    return agent.run("Compare the three long-context papers in detail.")


@scenario("support_code_tickets_context_overflow", "state", "context_overflow", True)
def _():
    agent = code_agent([order_history], gpt([
        code("Dump the whole history.", 'print(order_history(customer_id="C-9001"))'),
        context_overflow(129034),
    ], "gpt-4o"), max_print_outputs_length=400000)
    return agent.run("Find every unanswered message of customer C-9001.")


SESSIONS: dict[str, dict] = {"S-7730": {"cart": ["SKU-00017"], "coupon": None}}


@tool
def get_session_cart(session_id: str) -> str:
    """Read the cart the checkout assistant saved for a chat session.

    Args:
        session_id: The chat session id, e.g. "S-7730".
    """
    return json.dumps(SESSIONS[session_id]["cart"])


@scenario("support_session_cart_missing", "state", "lost_state", True)
def _():
    agent = tc_agent([get_session_cart, lookup_order], gpt([
        call("get_session_cart", session_id="S-7731"),
        call("get_session_cart", session_id="S-7731"),
        say("Your cart has been checked out."),
    ]), max_steps=2)
    return agent.run("Session S-7731: apply my coupon to the cart I just filled and check out.")


@scenario("research_code_brief_missing_key", "state", "lost_state", True)
def _():
    brief = {"topic": "mixture-of-depths", "length_words": 120}
    agent = code_agent([web_search], gpt([
        code("Tailor the search to the audience in the brief.",
             'print(web_search(query=brief["topic"] + " for " + brief["audience"]))'),
        code("Read the audience from the brief again.",
             'audience = brief["audience"]\nprint(web_search(query=f"mixture-of-depths {audience}"))'),
        say("Mixture-of-depths routes tokens around layers."),
    ], "gpt-4.1"), max_steps=2)
    return agent.run("Write the explainer described in the brief.", additional_args={"brief": brief})


def persist_progress(step: ActionStep, agent: Any) -> None:
    """Step callback: checkpoint each step under the session the app started."""
    session = agent.state["session_id"]
    agent.state.setdefault("checkpoints", []).append((session, step.step_number))


@scenario("research_subagent_step_callback_missing_session", "state", "lost_state", True)
def _():
    sub = searcher([call("web_search", query="constitutional ai"), call("web_search", query="constitutional ai critiques")],
                   step_callbacks=[persist_progress])
    lead = tc_agent([], gpt([
        call("search_agent", task="Find sources on constitutional AI."),
        call("search_agent", task="Find sources on critiques of constitutional AI."),
        say("Constitutional AI trains models against a written set of principles."),
    ], "gpt-4.1"), managed_agents=[sub], name="research_lead", max_steps=2)
    return lead.run("Find sources on constitutional AI and its critiques.")


@scenario("support_managed_template_undefined", "state", "lost_state", True)
def _():
    t = templates("tool")
    t["managed_agent"]["task"] = "You're {{name}}, handling ticket {{ticket_id}}.\nTask:\n{{task}}"
    sub = tc_agent([lookup_order, RefundTool()], gpt([answer("unused")]), name="billing_agent",
                   description="Handles refunds.", prompt_templates=t)
    desk = tc_agent([], gpt([
        call("billing_agent", task="Refund order A-3150 in full."),
        call("billing_agent", task="Refund order A-3150 in full."),
        say("I could not reach billing."),
    ]), managed_agents=[sub], name="support_desk", max_steps=2)
    return desk.run("Refund A-3150.")


@scenario("support_duplicate_lookup", "state", "redundant_work", False)
def _():
    agent = tc_agent([lookup_order, get_customer], gpt([
        call("lookup_order", order_id="A-2041"),
        call("get_customer", customer_id="C-4410"),
        call("lookup_order", order_id="A-2041"),
        answer("A-2041 was delivered on 11 June to Dana Ortiz."),
    ]))
    return agent.run("When was A-2041 delivered, and to whom (customer C-4410)?")


@scenario("research_code_duplicate_search", "state", "redundant_work", False)
def _():
    agent = code_agent([web_search, summarise], gpt([
        code("Search.", 'r = web_search(query="state space models vs transformers")\nprint(r)'),
        code("Summarise the hits.", 'print(summarise(text=r, max_words=30))'),
        code("Search again to be sure.", 'print(web_search(query="state space models vs transformers"))'),
        code("Answer.", 'final_answer("A review and a survey compare state space models with transformers.")'),
    ], "gpt-4.1"))
    return agent.run("Find sources comparing state space models with transformers.")


@scenario("support_manager_redelegates_same_task", "state", "redundant_work", False)
def _():
    ship = shipping([call("track_shipment", tracking_number="1Z999AA10123456791"),
                     answer("In transit, ETA 9 January."),
                     call("track_shipment", tracking_number="1Z999AA10123456791"),
                     answer("In transit, ETA 9 January.")])
    desk = tc_agent([], gpt([
        call("shipping_agent", task="Track parcel 1Z999AA10123456791."),
        call("shipping_agent", task="Track parcel 1Z999AA10123456791."),
        answer("Your parcel is in transit and should arrive on 9 January."),
    ]), managed_agents=[ship], name="support_desk")
    return desk.run("Where is parcel 1Z999AA10123456791?")


# ---------------------------------------------------------------- routing

@scenario("support_track_same_parcel_until_max_steps", "routing", "loop", True)
def _():
    script = [call("track_shipment", tracking_number="1Z999AA10123456784") for _ in range(5)]
    script.append(say("The parcel is in transit."))
    agent = tc_agent([ShipmentTrackingTool()], gpt(script), max_steps=5)
    return agent.run("Tell me as soon as parcel 1Z999AA10123456784 is delivered.")


@scenario("research_code_same_search_until_max_steps", "routing", "loop", True)
def _():
    script = [code("Search for more results.", 'print(web_search(query="grokking mechanistic explanation"))')
              for _ in range(4)]
    script.append(say("Grokking has been explained mechanistically in one review."))
    return code_agent([web_search], gpt(script, "gpt-4.1"), max_steps=4).run(
        "Find at least five independent sources on the mechanistic explanation of grokking.")


@scenario("research_manager_same_delegation_until_max_steps", "routing", "loop", True)
def _():
    sub = searcher([call("web_search", query="bitnet 1.58 replication"), answer("Only one source found."),
                    call("web_search", query="bitnet 1.58 replication"), answer("Only one source found."),
                    call("web_search", query="bitnet 1.58 replication"), answer("Only one source found."),
                    call("web_search", query="bitnet 1.58 replication"), answer("Only one source found.")])
    lead = tc_agent([], gpt([call("search_agent", task="Find three replications of BitNet b1.58.")] * 4
                            + [say("Only one replication could be found.")], "gpt-4.1"),
                    managed_agents=[sub], name="research_lead", max_steps=4)
    return lead.run("Find three replications of BitNet b1.58.")


@scenario("support_unknown_tool_then_ok", "routing", "unknown_tool", False)
def _():
    agent = tc_agent([lookup_order, RefundTool()], gpt([
        call("cancel_order", order_id="A-2077"),
        call("lookup_order", order_id="A-2077"),
        answer("A-2077 has not shipped yet, but I can't cancel orders myself; I've noted your request."),
    ]))
    return agent.run("Cancel order A-2077.")


@scenario("research_unknown_agent_then_ok", "routing", "unknown_tool", False)
def _():
    sub = searcher([call("web_search", query="moe load balancing loss"), answer("A review and a survey.")])
    lead = tc_agent([], gpt([
        call("fact_checker", task="Verify the claim that MoE needs a load-balancing loss."),
        call("search_agent", task="Find sources on the MoE load-balancing loss."),
        answer("Yes: both sources describe an auxiliary load-balancing loss for MoE routers."),
    ], "gpt-4.1"), managed_agents=[sub], name="research_lead")
    return lead.run("Does MoE training need a load-balancing loss? Verify it.")


@scenario("research_code_undefined_function_then_ok", "routing", "unknown_tool", False)
def _():
    agent = code_agent([web_search], gpt([
        code("Translate then search.", 'q = translate_text(text="apprentissage par renforcement", target="en")\nprint(web_search(query=q))'),
        code("No translation tool; search in English.", 'print(web_search(query="reinforcement learning"))'),
        code("Answer.", 'final_answer("A review and a survey on reinforcement learning.")'),
    ], "gpt-4.1"))
    return agent.run("Find sources on 'apprentissage par renforcement'.")


@scenario("support_unknown_tool_until_max_steps", "routing", "unknown_tool", True)
def _():
    agent = tc_agent([lookup_order], gpt([
        call("escalate_to_human", reason="angry customer", order_id="A-1002"),
        call("escalate_to_human", reason="angry customer, second try", order_id="A-1002"),
        call("create_ticket", order_id="A-1002", priority="high"),
        say("I have escalated your case."),
    ]), max_steps=3)
    return agent.run("This is the third time I write about A-1002. Get me a human NOW.")


@scenario("support_billing_shipping_ping_pong", "routing", "ping_pong", True)
def _():
    bill = billing([answer("This is a delivery problem, not a billing one: ask shipping_agent."),
                    answer("Still a delivery question: the parcel status decides it. shipping_agent should handle it.")])
    ship = shipping([answer("The customer disputes a charge: billing_agent must handle refunds."),
                     answer("Refund decisions belong to billing_agent.")])
    desk = tc_agent([], gpt([
        call("billing_agent", task="Customer wants a refund for A-1002, which has not arrived."),
        call("shipping_agent", task="Billing says A-1002's refund is a delivery problem. Handle it."),
        call("billing_agent", task="Shipping says the refund for A-1002 is yours."),
        call("shipping_agent", task="Billing sends A-1002 back to you."),
        say("Your case about A-1002 is being looked at."),
    ]), managed_agents=[bill, ship], name="ticket_router", max_steps=4)
    return desk.run("My order A-1002 never arrived and I want a refund.")


@scenario("research_search_analyst_ping_pong", "routing", "ping_pong", True)
def _():
    srch = searcher([answer("I found sources; comparing them is analysis work for analyst_agent."),
                     answer("Comparison is not search: analyst_agent."),
                     answer("Please ask analyst_agent.")])
    anl = analyst([answer("I need the sources first: search_agent should collect them."),
                   answer("Still no sources: back to search_agent."),
                   answer("search_agent has to fetch them.")])
    lead = tc_agent([], gpt([
        call("search_agent", task="Compare FlashAttention-2 and FlashAttention-3."),
        call("analyst_agent", task="Compare FlashAttention-2 and FlashAttention-3."),
        call("search_agent", task="The analyst needs sources for FlashAttention-2 vs 3."),
        call("analyst_agent", task="Search says comparing is yours: FlashAttention-2 vs 3."),
        call("search_agent", task="Analyst wants sources again: FlashAttention-2 vs 3."),
        call("analyst_agent", task="Compare FlashAttention-2 vs 3 with what you have."),
        say("FlashAttention-3 is faster on Hopper GPUs."),
    ], "gpt-4.1"), managed_agents=[srch, anl], name="research_lead", max_steps=6)
    return lead.run("Compare FlashAttention-2 and FlashAttention-3.")


@scenario("support_code_refunds_fraud_ping_pong", "routing", "ping_pong", True)
def _():
    refunds = tc_agent([RefundTool()], gpt([answer("Needs a fraud clearance first: fraud_agent."),
                                            answer("Fraud has not cleared it: back to fraud_agent."),
                                            answer("Cannot refund without fraud clearance.")]),
                       name="refunds_agent", description="Issues refunds once they are cleared.")
    fraud = tc_agent([get_customer], gpt([answer("No fraud signal, but refunds are refunds_agent's call."),
                                          answer("I don't issue clearances for refunds: refunds_agent decides."),
                                          answer("refunds_agent decides.")]),
                     name="fraud_agent", description="Screens orders for fraud.")
    lead = code_agent([], gpt([
        code("Ask refunds.", 'print(refunds_agent(task="Refund A-1001 ($42.50)."))'),
        code("Ask fraud.", 'print(fraud_agent(task="Clear A-1001 for a refund."))'),
        code("Back to refunds.", 'print(refunds_agent(task="Fraud says it is your call: refund A-1001."))'),
        code("Back to fraud.", 'print(fraud_agent(task="Refunds needs a clearance for A-1001."))'),
        say("The refund of A-1001 is pending."),
    ], "gpt-4o"), managed_agents=[refunds, fraud], name="support_desk", max_steps=4)
    return lead.run("Refund order A-1001.")


# ---------------------------------------------------------------- recovery

@scenario("support_rate_limit_retries_exhausted", "recovery", "retries_exhausted", True)
def _():
    model = ResilientModel(gpt([rate_limited("gpt-4o-mini", "tokens")] * 3), wait=0.1)
    return tc_agent([lookup_order], model).run("Status of order A-1001?")


@scenario("research_code_overloaded_retries_exhausted", "recovery", "retries_exhausted", True)
def _():
    model = ResilientModel(gpt([code("Search.", 'print(web_search(query="kv cache compression"))'),
                                overloaded(), server_error(), overloaded()], "gpt-4.1"), wait=0.1)
    return code_agent([web_search], model).run("Find sources on KV-cache compression.")


@scenario("research_timeout_retries_exhausted", "recovery", "retries_exhausted", True)
def _():
    model = ResilientModel(gpt([timeout(), timeout(), timeout()], "gpt-4.1-mini"), wait=0.1)
    return tc_agent([web_search], model).run("Find sources on speculative decoding.")


@scenario("support_builtin_retryer_exhausted_invisible", "recovery", "retries_exhausted", True)
def _():
    # smolagents' ApiModel retry on rate limits (Retrying, 3 attempts), wait shortened from 60 s:
    # all three attempts happen inside ONE OpenAIModel.generate span.
    model = gpt([call("lookup_order", order_id="A-1002")] + [rate_limited()] * 3)
    model.retryer = Retrying(max_attempts=3, wait_seconds=0.1, exponential_base=2.0, jitter=False,
                             retry_predicate=is_rate_limit_error, reraise=True)
    return tc_agent([lookup_order], model).run("Where is A-1002?")


@scenario("support_timeout_not_retried", "recovery", "no_retry", True)
def _():
    agent = tc_agent([lookup_order], gpt([call("lookup_order", order_id="A-1001"), timeout()]))
    return agent.run("Is A-1001 delivered?")


@scenario("research_code_connection_refused_not_retried", "recovery", "no_retry", True)
def _():
    return code_agent([web_search], gpt([refused()], "gpt-4.1")).run("Find sources on RLHF reward hacking.")


@scenario("support_overloaded_not_retried", "recovery", "no_retry", True)
def _():
    # smolagents' default ApiModel retry only covers rate limits: a 503 fails the run at once.
    agent = tc_agent([lookup_order, get_customer], gpt([call("get_customer", customer_id="C-4410"),
                                                        call("lookup_order", order_id="A-3150"), overloaded()], "gpt-4o"))
    return agent.run("Summarise customer C-4410's order A-3150.")


@scenario("research_rate_limit_retry_disabled", "recovery", "no_retry", True)
def _():
    agent = tc_agent([web_search], gpt([rate_limited("gpt-4.1-mini")], "gpt-4.1-mini", retry=False))
    return agent.run("Find sources on direct preference optimisation.")


@scenario("support_rate_limit_immediate_retry_ok", "recovery", "no_backoff", False)
def _():
    model = ResilientModel(gpt([rate_limited(), call("lookup_order", order_id="A-3150"),
                                answer("A-3150 was delivered on 20 December.")]), wait=0.0)
    return tc_agent([lookup_order], model).run("When was A-3150 delivered?")


@scenario("research_fetch_timeout_model_retries_at_once", "recovery", "no_backoff", False)
def _():
    WEB.faults = ["timeout"]
    agent = tc_agent([PageFetchTool()], gpt([
        call("fetch_page", url="https://papers.example.org/ring-attention"),
        call("fetch_page", url="https://papers.example.org/ring-attention"),
        answer("Ring attention reports a 14% improvement over baseline on 1,200 samples."),
    ], "gpt-4.1-mini"))
    return agent.run("What does the ring attention paper report?")


@scenario("support_subagent_overloaded_redelegated_at_once", "recovery", "no_backoff", False)
def _():
    ship = shipping([overloaded(), call("track_shipment", tracking_number="1Z999AA10123456784"),
                     answer("1Z999AA10123456784 in transit, ETA 9 January.")])
    desk = tc_agent([], gpt([
        call("shipping_agent", task="Track parcel 1Z999AA10123456784."),
        call("shipping_agent", task="Track parcel 1Z999AA10123456784."),
        answer("Your parcel is in transit and should arrive on 9 January."),
    ]), managed_agents=[ship], name="support_desk")
    return desk.run("Where is parcel 1Z999AA10123456784?")


@scenario("support_kb_outage_swallowed", "recovery", "silent_failure", True)
def _():
    KB.faults = ["connect"]
    agent = tc_agent([search_help_center], gpt([
        call("search_help_center", query="refund policy for damaged items"),
        answer("We don't have a refund policy for damaged items, so I can't offer a refund."),
    ]))
    return agent.run("My blender arrived damaged. What is your refund policy?")


@scenario("research_code_fetch_error_swallowed", "recovery", "silent_failure", True)
def _():
    WEB.faults = ["503"]
    agent = code_agent([PageFetchTool(), summarise], gpt([
        code("Fetch, tolerate failures.",
             'try:\n    text = fetch_page(url="https://papers.example.org/mamba-2")\nexcept Exception:\n    text = ""\n'
             'final_answer("Mamba-2 summary: " + (summarise(text=text, max_words=30) or "no notable results reported."))'),
    ], "gpt-4.1"))
    return agent.run("Summarise the Mamba-2 paper's results.")


@scenario("support_code_manager_swallows_subagent_error", "recovery", "silent_failure", True)
def _():
    fraud = tc_agent([get_customer], gpt([rate_limited()], retry=False), name="fraud_agent",
                     description="Screens orders for fraud.")
    lead = code_agent([RefundTool()], gpt([
        code("Screen, then refund.",
             'try:\n    verdict = fraud_agent(task="Screen order A-3150 for fraud.")\nexcept Exception:\n    verdict = "no fraud signals"\n'
             'print(verdict)\nprint(issue_refund(order_id="A-3150", amount=230.0))'),
        code("Answer.", 'final_answer("Fraud screening passed (no fraud signals); refund of $230.00 issued for A-3150.")'),
    ], "gpt-4o"), managed_agents=[fraud], name="support_desk")
    return lead.run("Screen order A-3150 for fraud and refund it if clean.")


@scenario("support_gateway_reply_without_usage", "recovery", "unhandled_error", True)
def _():
    # An OpenAI-compatible gateway that omits "usage": OpenAIModel.generate reads response.usage.prompt_tokens.
    r = call("lookup_order", order_id="A-1001")
    r["no_usage"] = True
    agent = tc_agent([lookup_order], gpt([call("lookup_order", order_id="A-1002"), r, answer("unused")], "gpt-4o"))
    return agent.run("Status of A-1002 and A-1001?")


@scenario("research_empty_choices_index_error", "recovery", "unhandled_error", True)
def _():
    agent = tc_agent([web_search], gpt([call("web_search", query="jailbreak prompts taxonomy"), no_choices()], "gpt-4.1-mini"))
    return agent.run("Build a taxonomy of jailbreak prompts.")


@scenario("support_guardrail_custom_exception", "recovery", "unhandled_error", True)
def _():
    model = GuardedModel(gpt([call("get_customer", customer_id="C-4410"),
                              answer("Dana's card on file is 4111 1111 1111 1111, expiring 04/27.")]))
    return tc_agent([get_customer], model).run("Which card does customer C-4410 have on file?")


# --------------------------------------------------------------------------------------------


def dump(spans: list) -> None:
    for s in sorted(spans, key=lambda s: s.start_time):
        depth, p = 0, s.parent
        by_id = {x.context.span_id: x for x in spans}
        while p is not None and p.span_id in by_id:
            depth += 1
            p = by_id[p.span_id].parent
        attrs = dict(s.attributes or {})
        keep = {k: (v if len(str(v)) < 160 else str(v)[:157] + "...") for k, v in attrs.items()
                if not k.startswith(("llm.tools", "llm.input_messages", "input.value", "tool.description",
                                     "tool.parameters", "llm.invocation"))}
        msgs = [k for k in attrs if k.startswith("llm.input_messages") and k.endswith("text")]
        if msgs:
            keep["last_input"] = str(attrs[sorted(msgs, key=lambda k: int(k.split(".")[2]))[-1]])[:200]
        print(f"{'  ' * depth}{s.name} [{s.status.status_code.name}] {(s.end_time - s.start_time) / 1e6:.0f}ms {keep}")
        for e in s.events:
            print(f"{'  ' * depth}  event {e.name}: {e.attributes.get('exception.type')}: "
                  f"{str(e.attributes.get('exception.message', dict(e.attributes)))[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", default="", help="run only scenarios whose name or mode contains this")
    parser.add_argument("--dump", action="store_true", help="print each scenario's spans")
    args = parser.parse_args()
    corpus = Corpus(framework="smolagents")
    SmolagentsInstrumentor().instrument(tracer_provider=corpus.provider)
    start = time.time()
    for name, layer, mode, failed, fn in SCENARIOS:
        if args.only and args.only not in name and args.only != mode:
            continue
        reset_world()
        # A run that raises leaves its AGENT span un-ended and its context attached (instrumentor
        # behaviour); each scenario runs in a fresh context, as each request of a server would.
        corpus.record(name, layer, mode, failed, lambda fn=fn: contextvars.copy_context().run(fn))
        if args.dump:
            print(f"\n### {name} ({layer}/{mode}, failed={failed})")
            dump(list(corpus.exporter.get_finished_spans()))
    corpus.write(args.out)
    print(f"{time.time() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
