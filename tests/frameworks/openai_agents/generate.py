"""Real OpenAI Agents SDK runs, traced by OpenInference, as a labelled corpus for the audit.

    /work/venvs/openai_agents/bin/python generate.py --out ../corpus

Two small apps, built with the SDK's own primitives (``Agent``, ``Runner.run``, ``function_tool``,
handoffs, ``Agent.as_tool``, ``output_type``, ``max_turns``, ``RunContextWrapper`` state,
``ModelSettings(retry=ModelRetrySettings(...))`` runner-managed retries, ``agents.trace``):

* **support desk** (workflow "support desk"): a ``Triage`` agent with ``handoffs=[Billing, Refunds]``;
  Billing and Refunds can hand back; tools ``lookup_order``, ``get_invoice``, ``issue_refund``,
  ``check_refund_status``, ``get_customer_profile``, ``update_shipping_address``; a
  ``RefundDecision`` pydantic ``output_type``; per-run ``DeskState`` context.
* **research assistant** (workflow "research assistant"): a ``Lead`` agent that calls ``Researcher``,
  ``Writer`` and ``Critic`` as tools (``Agent.as_tool``) or hands off Writer <-> Critic; tools
  ``search_papers``, ``fetch_abstract``, ``summarise_text``, ``cite_source``; a ``ResearchBrief``
  ``output_type``; per-run ``NotebookState`` context with template variables.

The model is ``ScriptedResponsesModel``, an ``agents.Model`` (a subclass of the SDK's own
``OpenAIResponsesModel``) whose ``AsyncOpenAI`` client talks to an in-process fake of the
Responses endpoint (an ``httpx2.MockTransport``). Every scenario scripts the endpoint's replies:
Responses JSON with function calls / handoff calls / final text, HTTP 429 / 400
``context_length_exceeded`` / 500 / 503 bodies (so ``openai`` itself raises ``RateLimitError``,
``BadRequestError``, ``InternalServerError`` with its real messages), or transport errors
(``httpx2.ReadTimeout`` / ``httpx2.ConnectError``, which ``openai`` turns into
``APITimeoutError`` / ``APIConnectionError``). So the SDK's real model code writes the
response spans, and the SDK's own code raises ``ModelBehaviorError`` ("Invalid JSON when
parsing ...", "Tool X not found in agent Y", "Invalid JSON input for tool ..."),
``MaxTurnsExceeded``, and turns tool exceptions into in-band tool output through
``function_tool``'s default ``failure_error_function``. Tracing: OpenInference's
``OpenAIAgentsInstrumentor`` (exclusive processor: the SDK's upload to OpenAI is never
registered). Nothing here writes a span or sets a status.

Scenarios (69 traces; ``desk_*`` support desk, ``lab_*`` research assistant):
* clean (22): order status, handoff Triage -> Refunds, delegate and return (Triage -> Billing ->
  Triage), a refund the ledger refuses that the agent reports honestly (default in-band error),
  an unknown order id, a valid RefundDecision, a 12-call conversation, an SDK retry after 429
  (0.25 s), an app retry of ``Runner.run`` after a timeout (0.25 s), a passing input guardrail,
  a streamed run, a structured brief, a revision round (Writer, Critic, Writer as tools), five
  parallel searches, a 13-call session, a search-quota error the agent reads and admits, an SDK
  retry after a connection error (0.2 s), the openai client's hidden retry of a 503, a critic
  that approves, one Writer -> Critic handoff, the same tool on three ids, a brief from state.
* output_parse_error (3): prose, truncated JSON, a markdown-fenced JSON for an ``output_type``.
* schema_mismatch (3): a missing field, wrong types, a string where a list is required.
* invalid_tool_args (5): an int for a str, truncated argument JSON, a word for an int (tools
  with ``failure_error_function=None``: the run fails), and two calls with a missing argument
  that the model fixes after the in-band error (default redacted text / detailed custom text).
* context_overflow (3): 400 ``context_length_exceeded`` (two wordings) after tool output, long
  history, a huge prompt.
* lost_state (4): ``KeyError`` in a dynamic-instructions function and in two tools reading
  ``RunContextWrapper.context``, a ``str.format`` template missing ``audience``.
* redundant_work (3): the same lookup / search / sub-agent call repeated after success.
* loop (3): ``MaxTurnsExceeded`` after the same tool / sub-agent call with the same arguments.
* unknown_tool (4): ``Tool X not found in agent Y`` for a tool, a handoff and an agent-as-tool.
* ping_pong (3): Triage <-> Billing and Refunds <-> Billing bouncing 4-5 times before an answer,
  Writer <-> Critic handoffs until ``MaxTurnsExceeded``.
* retries_exhausted (3): SDK retry of 429 x3 and of connection errors, app retry of timeouts.
* no_retry (3): 429, timeout, 503 with no retry configured.
* no_backoff (3): app retry without a sleep after 429 (then ok) and after 503 x3 (fails), an
  SDK retry with a zero back-off after a 500 (then ok).
* silent_failure (4): a tool exception (default in-band error) the model ignores and claims
  success, a sub-agent (``as_tool``) failure turned into tool output and ignored, an app that
  swallows a failed enrichment run and answers anyway, an IndexError reported in-band and ignored.
* unhandled_error (3): ZeroDivisionError and two custom exceptions escaping tools with
  ``failure_error_function=None`` (the SDK wraps them in ``UserError("Error running tool ...")``).

What the framework cannot produce as such:
* ``schema_mismatch`` has no exception of its own: an ``output_type`` that parses but fails
  validation raises the same ``ModelBehaviorError("Invalid JSON when parsing ... ; 1 validation
  error for ... Field required")`` as malformed JSON; only the pydantic text tells them apart
  (and with the SDK's default ``OPENAI_AGENTS_DONT_LOG_MODEL_DATA`` both read "Invalid JSON
  when parsing model output"; this generator turns data logging on, as a developer would).
* ``retries_exhausted`` and ``no_backoff`` need a retry: the openai client's own retries
  (``max_retries``) are invisible in the spans (one response span), so the corpus uses the
  SDK's runner-managed retry (one response span per attempt) and app-level retries of
  ``Runner.run`` inside one ``agents.trace``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Offline and quiet: no upload of traces to OpenAI (the instrumentor replaces the SDK's
# processors), no key in the environment, model and tool data kept in error messages.
os.environ.pop("OPENAI_API_KEY", None)
os.environ["OPENAI_AGENTS_DONT_LOG_MODEL_DATA"] = "0"
os.environ["OPENAI_AGENTS_DONT_LOG_TOOL_DATA"] = "0"
os.environ["OTEL_SDK_DISABLED"] = "false"
os.environ["OTEL_TRACES_EXPORTER"] = "none"
os.environ["OTEL_METRICS_EXPORTER"] = "none"
os.environ["OTEL_LOGS_EXPORTER"] = "none"

import httpx2
import openai
from agents import (
    Agent,
    GuardrailFunctionOutput,
    ModelRetrySettings,
    ModelSettings,
    OpenAIResponsesModel,
    RunConfig,
    RunContextWrapper,
    Runner,
    function_tool,
    input_guardrail,
    retry_policies,
    set_tracing_export_api_key,
    trace,
)
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus_kit import Corpus

FRAMEWORK = "openai_agents"
MODEL_NAME = "gpt-4.1-mini"
API_URL = "https://api.openai.com/v1/responses"

# --------------------------------------------------------------------------------------------
# The in-process Responses endpoint and the model that talks to it
# --------------------------------------------------------------------------------------------

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


def say(text: str) -> dict[str, Any]:
    """An assistant message output item."""
    return {"type": "message", "id": _next_id("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def call(name: str, args: dict[str, Any] | str) -> dict[str, Any]:
    """A function-call output item (tools, handoffs ``transfer_to_x`` and agents-as-tools alike)."""
    call_id = _next_id("call")
    return {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": name,
            "arguments": args if isinstance(args, str) else json.dumps(args), "status": "completed"}


@dataclass
class Reply:
    """A 200 from the Responses endpoint with these output items."""

    output: list[dict[str, Any]]
    input_tokens: int = 180
    output_tokens: int = 40

    def respond(self, request: httpx2.Request) -> httpx2.Response:
        body = self.body()
        if json.loads(request.content or b"{}").get("stream"):
            return httpx2.Response(200, content=self.sse(body), request=request,
                                   headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=body, request=request)

    def sse(self, body: dict[str, Any]) -> bytes:
        """The same response as server-sent events, as the endpoint streams it."""
        seq = itertools.count()
        events = [{"type": "response.created", "response": {**body, "status": "in_progress", "output": []}}]
        for i, item in enumerate(body["output"]):
            events.append({"type": "response.output_item.added", "output_index": i,
                           "item": {**item, "status": "in_progress"}})
            events.append({"type": "response.output_item.done", "output_index": i, "item": item})
        events.append({"type": "response.completed", "response": body})
        return "".join(f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': next(seq)})}\n\n"
                       for e in events).encode()

    def body(self) -> dict[str, Any]:
        return {"id": _next_id("resp"), "object": "response", "created_at": int(time.time()), "model": MODEL_NAME,
                "status": "completed", "output": self.output, "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                                       "total_tokens": self.input_tokens + self.output_tokens,
                                       "input_tokens_details": {"cached_tokens": 0},
                                       "output_tokens_details": {"reasoning_tokens": 0}}}


def text(t: str, **kw: Any) -> Reply:
    return Reply([say(t)], **kw)


def calls(*items: dict[str, Any], **kw: Any) -> Reply:
    return Reply(list(items), **kw)


@dataclass
class HttpError:
    """An error status from the endpoint; ``openai`` raises the matching APIStatusError."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def respond(self, request: httpx2.Request) -> httpx2.Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        headers = {"x-request-id": _next_id("req"), **self.headers}
        return httpx2.Response(self.status, json=body, headers=headers, request=request)


@dataclass
class NetError:
    """A transport failure; ``openai`` raises APITimeoutError / APIConnectionError from it."""

    kind: str  # "timeout" | "connect"
    message: str

    def respond(self, request: httpx2.Request) -> httpx2.Response:
        if self.kind == "timeout":
            raise httpx2.ReadTimeout(self.message, request=request)
        raise httpx2.ConnectError(self.message, request=request)


def rate_limited(org: str = "org-desk", used: int = 29750, limit: int = 30000, wait: str = "1.2s") -> HttpError:
    return HttpError(429, f"Rate limit reached for {MODEL_NAME} in organization {org} on tokens per min (TPM): "
                          f"Limit {limit}, Used {used}, Requested 912. Please try again in {wait}. Visit "
                          "https://platform.openai.com/account/rate-limits to learn more.",
                     "tokens", "rate_limit_exceeded", headers={"retry-after-ms": "250"})


def context_overflow(limit: int = 128000, got: int = 131407) -> HttpError:
    return HttpError(400, f"This model's maximum context length is {limit} tokens. However, your messages resulted "
                          f"in {got} tokens. Please reduce the length of the messages.",
                     "invalid_request_error", "context_length_exceeded", "input")


def server_error(status: int = 500) -> HttpError:
    if status == 503:
        return HttpError(503, "The engine is currently overloaded, please try again later.", "server_error", None)
    return HttpError(500, "The server had an error while processing your request. Sorry about that!",
                     "server_error", None)


class ScriptedEndpoint:
    """Serves one scripted step per request, in order; records the request bodies."""

    def __init__(self, steps: list[Any]) -> None:
        self.steps = list(steps)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content or b"{}"))
        if not self.steps:
            raise AssertionError(f"unscripted model call #{len(self.requests)}")
        return self.steps.pop(0).respond(request)


class ScriptedResponsesModel(OpenAIResponsesModel):
    """The SDK's Responses model over an ``AsyncOpenAI`` client whose transport is a script."""

    def __init__(self, steps: list[Any], *, client_retries: int = 0) -> None:
        self.endpoint = ScriptedEndpoint(steps)
        client = openai.AsyncOpenAI(api_key="sk-offline-corpus", max_retries=client_retries,
                                    http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.endpoint)))
        super().__init__(model=MODEL_NAME, openai_client=client)

    def assert_done(self) -> None:
        assert not self.endpoint.steps, f"{len(self.endpoint.steps)} scripted replies left"


def sdk_retry(max_retries: int, delay: float) -> ModelSettings:
    """Runner-managed model retries: one response span per attempt."""
    return ModelSettings(retry=ModelRetrySettings(
        max_retries=max_retries,
        backoff={"initial_delay": delay, "max_delay": delay, "multiplier": 1.0, "jitter": False},
        policy=retry_policies.any(retry_policies.network_error(), retry_policies.http_status([429, 500, 502, 503])),
    ))


# --------------------------------------------------------------------------------------------
# App 1: support desk
# --------------------------------------------------------------------------------------------

ORDERS = {
    "A-1017": {"status": "shipped", "carrier": "DHL", "total": 84.50, "invoice": "INV-5521"},
    "B-2204": {"status": "delivered", "carrier": "UPS", "total": 129.00, "invoice": "INV-5604"},
    "C-3391": {"status": "processing", "carrier": None, "total": 42.99, "invoice": "INV-5688"},
    "D-4410": {"status": "delivered", "carrier": "FedEx", "total": 310.00, "invoice": "INV-5702"},
}
INVOICES = {"INV-5521": 84.50, "INV-5604": 129.00, "INV-5688": 42.99, "INV-5702": 310.00}


class RefundWindowClosed(Exception):
    """The payments ledger refuses refunds older than the window."""


class LedgerLockedError(Exception):
    """The payments ledger is locked for the nightly settlement."""


class LedgerRejected(Exception):
    """The card issuer declined the reversal."""


class CrmSyncError(Exception):
    """The CRM refused to sync a profile."""


@dataclass
class DeskState:
    customer_id: str
    session: dict[str, Any] = field(default_factory=dict)
    ledger_mode: str = "ok"  # ok | window_closed | locked | zero_rate | rejected


class RefundDecision(BaseModel):
    order_id: str
    approved: bool
    amount: float
    reason: str


def _lookup_order(order_id: str) -> str:
    order = ORDERS.get(order_id)
    if order is None:
        return f"No order found with id {order_id}."
    return json.dumps({"order_id": order_id, **order})


def _get_invoice(invoice_id: str) -> str:
    if invoice_id not in INVOICES:
        return f"Invoice {invoice_id} does not exist."
    return json.dumps({"invoice_id": invoice_id, "amount_due": 0.0, "paid": INVOICES[invoice_id]})


def _issue_refund(ctx: RunContextWrapper[DeskState], order_id: str, amount: float, reason: str) -> str:
    mode = ctx.context.ledger_mode
    if mode == "window_closed":
        raise RefundWindowClosed(f"Refund window of 30 days closed for order {order_id}")
    if mode == "locked":
        raise LedgerLockedError("ledger locked for settlement batch 2024-11-30; retry after 02:00 UTC")
    if mode == "zero_rate":
        rate = 0
        fee = amount / rate  # the fee table has no rate for this region
        return f"refund fee {fee}"
    if mode == "rejected":
        raise LedgerRejected(f"issuer declined reversal for {order_id}: code R05 (no original authorisation)")
    return json.dumps({"refund_id": f"RF-{order_id[-4:]}", "order_id": order_id, "amount": amount, "status": "queued"})


def _check_refund_status(refund_id: str) -> str:
    return json.dumps({"refund_id": refund_id, "status": "pending", "eta_days": 3})


def _get_customer_profile(ctx: RunContextWrapper[DeskState]) -> str:
    loyalty = ctx.context.session["loyalty_tier"]  # set by the login step, when it ran
    return json.dumps({"customer_id": ctx.context.customer_id, "loyalty_tier": loyalty})


def _sync_crm_profile(ctx: RunContextWrapper[DeskState]) -> str:
    raise CrmSyncError(f"account {ctx.context.customer_id} was merged into cus_9902; sync refused")


def _update_shipping_address(order_id: str, street: str, postcode: str) -> str:
    return json.dumps({"order_id": order_id, "street": street, "postcode": postcode, "updated": True})


def desk_tools(strict_errors: bool = False) -> dict[str, Any]:
    """The desk's tools; ``strict_errors`` lets tool exceptions propagate (failure_error_function=None)."""
    kw: dict[str, Any] = {"failure_error_function": None} if strict_errors else {}
    return {
        "lookup_order": function_tool(_lookup_order, name_override="lookup_order",
                                      description_override="Look up an order by id.", **kw),
        "get_invoice": function_tool(_get_invoice, name_override="get_invoice",
                                     description_override="Fetch an invoice by id.", **kw),
        "issue_refund": function_tool(_issue_refund, name_override="issue_refund",
                                      description_override="Issue a refund on the payments ledger.", **kw),
        "check_refund_status": function_tool(_check_refund_status, name_override="check_refund_status",
                                             description_override="Status of a refund.", **kw),
        "get_customer_profile": function_tool(_get_customer_profile, name_override="get_customer_profile",
                                              description_override="The signed-in customer's profile.", **kw),
        "sync_crm_profile": function_tool(_sync_crm_profile, name_override="sync_crm_profile",
                                          description_override="Refresh the profile from the CRM.", **kw),
        "update_shipping_address": function_tool(_update_shipping_address, name_override="update_shipping_address",
                                                 description_override="Change an order's shipping address.", **kw),
    }


def desk_instructions(ctx: RunContextWrapper[DeskState], agent: Agent[DeskState]) -> str:
    tier = ctx.context.session["customer_tier"]  # filled by the CRM sync before the run
    return f"You are the {agent.name} agent. The customer is on the {tier} plan; be concise."


@dataclass
class Desk:
    triage: Agent[DeskState]
    billing: Agent[DeskState]
    refunds: Agent[DeskState]


def build_desk(model: ScriptedResponsesModel, *, strict_errors: bool = False, refunds_output: bool = False,
               back_handoffs: bool = False, dynamic_instructions: bool = False,
               model_settings: ModelSettings | None = None, guardrail: Any = None) -> Desk:
    tools = desk_tools(strict_errors)
    settings = model_settings or ModelSettings()
    billing = Agent[DeskState](name="Billing", model=model, model_settings=settings,
                               instructions=desk_instructions if dynamic_instructions else
                               "Answer billing questions: invoices, charges, order totals.",
                               handoff_description="Invoices, charges and payment questions.",
                               tools=[tools["get_invoice"], tools["lookup_order"]])
    refunds = Agent[DeskState](name="Refunds", model=model, model_settings=settings,
                               instructions="Decide and issue refunds for eligible orders.",
                               handoff_description="Refund requests and refund status.",
                               tools=[tools["lookup_order"], tools["issue_refund"], tools["check_refund_status"]],
                               output_type=RefundDecision if refunds_output else None)
    triage = Agent[DeskState](name="Triage", model=model, model_settings=settings,
                              instructions=desk_instructions if dynamic_instructions else
                              "Route the customer to Billing or Refunds; answer order-status questions yourself.",
                              tools=[tools["lookup_order"], tools["get_customer_profile"],
                                     tools["update_shipping_address"], tools["sync_crm_profile"]],
                              handoffs=[billing, refunds],
                              input_guardrails=[guardrail] if guardrail else [])
    if back_handoffs:
        billing.handoffs = [triage, refunds]
        refunds.handoffs = [triage, billing]
    return Desk(triage, billing, refunds)


DESK_RUN = RunConfig(workflow_name="support desk")


# --------------------------------------------------------------------------------------------
# App 2: research assistant
# --------------------------------------------------------------------------------------------

PAPERS = {
    "arxiv:2001.08361": "Scaling Laws for Neural Language Models",
    "arxiv:2203.15556": "Training Compute-Optimal Large Language Models",
    "arxiv:2005.14165": "Language Models are Few-Shot Learners",
    "arxiv:2206.07682": "Emergent Abilities of Large Language Models",
    "arxiv:2302.13971": "LLaMA: Open and Efficient Foundation Language Models",
    "arxiv:2109.01652": "Finetuned Language Models Are Zero-Shot Learners",
}


class SearchQuotaError(Exception):
    """The paper index refused the query."""


class UnsupportedQueryError(Exception):
    """The paper index cannot parse the query syntax."""


@dataclass
class NotebookState:
    topic: str
    notes: dict[str, Any] = field(default_factory=dict)
    template_vars: dict[str, str] = field(default_factory=dict)
    index_mode: str = "ok"  # ok | quota | bad_page | syntax


class ResearchBrief(BaseModel):
    title: str
    findings: list[str]
    sources: list[str]


def _search_papers(ctx: RunContextWrapper[NotebookState], query: str, limit: int = 3) -> str:
    if ctx.context.index_mode == "quota":
        raise SearchQuotaError(f"index quota exhausted for query {query!r} (daily limit 500)")
    if ctx.context.index_mode == "syntax":
        raise UnsupportedQueryError(f"boolean operators are not supported by index v3: {query!r}")
    if ctx.context.index_mode == "bad_page":
        pages = [[] for _ in range(0)]
        return json.dumps(pages[limit])  # the paginator asks for a page that does not exist
    words = set(query.lower().split())
    hits = [pid for pid, title in PAPERS.items() if words & set(title.lower().split())] or list(PAPERS)[:2]
    return json.dumps([{"id": pid, "title": PAPERS[pid]} for pid in hits[:limit]])


def _fetch_abstract(paper_id: str) -> str:
    if paper_id not in PAPERS:
        return f"No paper {paper_id} in the index."
    return f"{PAPERS[paper_id]}: we study how loss scales with model size, data and compute ..."


def _summarise_text(text: str, max_words: int) -> str:
    words = text.split()
    return " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")


def _cite_source(paper_id: str, style: str) -> str:
    title = PAPERS.get(paper_id, "Unknown")
    return f"[{style.upper()}] {title} ({paper_id})"


def _read_outline(ctx: RunContextWrapper[NotebookState], section: str) -> str:
    outline = ctx.context.notes["outline"]  # written by the planning step
    return json.dumps({"section": section, "points": outline.get(section, [])})


def lab_tool_error(ctx: RunContextWrapper[Any], error: Exception) -> str:
    """The research app reports tool failures to the model in detail (a custom failure_error_function)."""
    return f"Tool error ({type(error).__name__}): {error}"


def research_tools(strict_errors: bool = False) -> dict[str, Any]:
    """The lab's tools; tool errors go back to the model in detail, or propagate with ``strict_errors``."""
    kw: dict[str, Any] = {"failure_error_function": None if strict_errors else lab_tool_error}
    return {
        "search_papers": function_tool(_search_papers, name_override="search_papers",
                                       description_override="Search the paper index.", **kw),
        "fetch_abstract": function_tool(_fetch_abstract, name_override="fetch_abstract",
                                        description_override="Fetch a paper's abstract.", **kw),
        "summarise_text": function_tool(_summarise_text, name_override="summarise_text",
                                        description_override="Summarise a text to at most max_words words.", **kw),
        "cite_source": function_tool(_cite_source, name_override="cite_source",
                                     description_override="Format a citation.", **kw),
        "read_outline": function_tool(_read_outline, name_override="read_outline",
                                      description_override="Read a section of the planned outline.", **kw),
    }


def writer_instructions(ctx: RunContextWrapper[NotebookState], agent: Agent[NotebookState]) -> str:
    template = "Write a {length} brief on {topic} for {audience}, citing every source."
    return template.format(topic=ctx.context.topic, **ctx.context.template_vars)


@dataclass
class Lab:
    lead: Agent[NotebookState]
    researcher: Agent[NotebookState]
    writer: Agent[NotebookState]
    critic: Agent[NotebookState]


def build_lab(model: ScriptedResponsesModel, *, strict_errors: bool = False, brief_output: bool = False,
              writer_critic_handoffs: bool = False, template_writer: bool = False,
              model_settings: ModelSettings | None = None, max_turns_tool: int | None = None) -> Lab:
    tools = research_tools(strict_errors)
    settings = model_settings or ModelSettings()
    researcher = Agent[NotebookState](name="Researcher", model=model, model_settings=settings,
                                      instructions="Find and read the most relevant papers.",
                                      tools=[tools["search_papers"], tools["fetch_abstract"], tools["summarise_text"]])
    writer = Agent[NotebookState](name="Writer", model=model, model_settings=settings,
                                  instructions=writer_instructions if template_writer else
                                  "Write a short research brief from the notes you are given.",
                                  handoff_description="Drafts the brief.",
                                  tools=[tools["cite_source"], tools["read_outline"]],
                                  output_type=ResearchBrief if brief_output else None)
    critic = Agent[NotebookState](name="Critic", model=model, model_settings=settings,
                                  instructions="Critique the draft: missing evidence, unsupported claims.",
                                  handoff_description="Reviews a draft brief.")
    if writer_critic_handoffs:
        writer.handoffs = [critic]
        critic.handoffs = [writer]
    as_tool_kw: dict[str, Any] = {"max_turns": max_turns_tool} if max_turns_tool else {}
    lead = Agent[NotebookState](name="Lead", model=model, model_settings=settings,
                                instructions="Plan the research, delegate, and return the final brief.",
                                tools=[researcher.as_tool("run_researcher", "Search and read papers on a question.",
                                                          **as_tool_kw),
                                       writer.as_tool("run_writer", "Draft the brief from notes.", **as_tool_kw),
                                       critic.as_tool("run_critic", "Review a draft brief.", **as_tool_kw),
                                       tools["search_papers"], tools["cite_source"]],
                                output_type=ResearchBrief if brief_output else None)
    return Lab(lead, researcher, writer, critic)


LAB_RUN = RunConfig(workflow_name="research assistant")


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------

Scenario = Callable[[], Awaitable[Any]]
SCENARIOS: list[tuple[str, str, str, bool, Scenario]] = []


def scenario(name: str, layer: str = "none", mode: str = "none", failed: bool = False):
    def register(fn: Scenario) -> Scenario:
        SCENARIOS.append((name, layer, mode, failed, fn))
        return fn
    return register


def desk_state(**kw: Any) -> DeskState:
    return DeskState(customer_id=kw.pop("customer_id", "cus_8841"), session=kw.pop("session", {
        "customer_tier": "pro", "loyalty_tier": "gold"}), **kw)


def lab_state(**kw: Any) -> NotebookState:
    return NotebookState(topic=kw.pop("topic", "scaling laws for language models"), **kw)


BRIEF_JSON = json.dumps({"title": "Compute-optimal scaling", "findings": [
    "Loss follows a power law in parameters, data and compute.",
    "Compute-optimal training scales tokens and parameters equally."],
    "sources": ["arxiv:2001.08361", "arxiv:2203.15556"]})


# ---- clean runs ---------------------------------------------------------------------------

@scenario("desk_order_status")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "A-1017"})),
                                text("Order A-1017 has shipped with DHL.")])
    d = build_desk(m)
    r = await Runner.run(d.triage, "Where is my order A-1017?", context=desk_state(), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_handoff_to_refunds")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_refunds", {})),
                                calls(call("lookup_order", {"order_id": "B-2204"})),
                                calls(call("issue_refund", {"order_id": "B-2204", "amount": 129.0,
                                                            "reason": "arrived damaged"})),
                                text("Your refund RF-2204 of $129.00 is queued; expect it in 3-5 days.")])
    d = build_desk(m)
    r = await Runner.run(d.triage, "My blender B-2204 arrived broken, I want my money back.",
                         context=desk_state(), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_delegate_and_return")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_billing", {})),
                                calls(call("get_invoice", {"invoice_id": "INV-5688"})),
                                calls(call("transfer_to_triage", {})),
                                calls(call("update_shipping_address", {"order_id": "C-3391", "street": "12 Elm St",
                                                                       "postcode": "94110"})),
                                text("Invoice INV-5688 is paid, and C-3391 will now ship to 12 Elm St.")])
    d = build_desk(m, back_handoffs=True)
    r = await Runner.run(d.triage, "Is INV-5688 paid? Also ship C-3391 to 12 Elm St 94110.",
                         context=desk_state(), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_refund_refused_handled")
async def _() -> Any:
    # issue_refund raises inside the tool; the SDK returns its default in-band error text to the
    # model, which reads it and answers sensibly (offers escalation instead of claiming success).
    m = ScriptedResponsesModel([calls(call("transfer_to_refunds", {})),
                                calls(call("issue_refund", {"order_id": "D-4410", "amount": 310.0,
                                                            "reason": "changed mind"})),
                                text("I could not process the refund for D-4410: the ledger returned an error. "
                                     "I have opened ticket ESC-7781 so a specialist can review it within 24h.")])
    d = build_desk(m)
    r = await Runner.run(d.triage, "Refund D-4410 please, I changed my mind.",
                         context=desk_state(ledger_mode="window_closed"), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_unknown_order_reply")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "Z-0000"})),
                                text("I can't find order Z-0000. Could you check the id on your receipt?")])
    d = build_desk(m)
    r = await Runner.run(d.triage, "Status of Z-0000?", context=desk_state(), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_structured_refund_decision")
async def _() -> Any:
    decision = {"order_id": "A-1017", "approved": True, "amount": 84.5, "reason": "late delivery"}
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "A-1017"})),
                                calls(call("issue_refund", {"order_id": "A-1017", "amount": 84.5,
                                                            "reason": "late delivery"})),
                                text(json.dumps(decision))])
    d = build_desk(m, refunds_output=True)
    r = await Runner.run(d.refunds, "A-1017 came two weeks late, refund it.", context=desk_state(),
                         run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_long_conversation")
async def _() -> Any:
    # 12 model calls, every tool call with distinct arguments.
    steps = [calls(call("lookup_order", {"order_id": oid})) for oid in ORDERS]
    steps += [calls(call("transfer_to_billing", {}))]
    steps += [calls(call("get_invoice", {"invoice_id": inv})) for inv in INVOICES]
    steps += [calls(call("lookup_order", {"order_id": "E-5000"})),
              text("Summary: A-1017 shipped, B-2204 and D-4410 delivered, C-3391 processing; all four invoices "
                   "are paid; E-5000 does not exist.")]
    m = ScriptedResponsesModel(steps)
    d = build_desk(m)
    r = await Runner.run(d.triage, "Give me the status and invoices of all my orders, and check E-5000.",
                         context=desk_state(), run_config=DESK_RUN, max_turns=20)
    m.assert_done()
    return r


@scenario("desk_sdk_retry_backoff_ok")
async def _() -> Any:
    # Runner-managed retry: 429, wait 0.25 s (the retry-after-ms header), then success.
    m = ScriptedResponsesModel([rate_limited(), calls(call("lookup_order", {"order_id": "C-3391"})),
                                text("C-3391 is still processing; it should ship tomorrow.")])
    d = build_desk(m, model_settings=sdk_retry(3, 0.25))
    r = await Runner.run(d.triage, "Has C-3391 shipped?", context=desk_state(), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_app_retry_backoff_ok")
async def _() -> Any:
    # The app retries the whole run after a timeout, sleeping 0.25 s first.
    m = ScriptedResponsesModel([NetError("timeout", "The read operation timed out"),
                                calls(call("get_invoice", {"invoice_id": "INV-5702"})),
                                text("INV-5702 for $310.00 is fully paid.")])
    d = build_desk(m)
    with trace("support desk"):
        for attempt in range(3):
            try:
                r = await Runner.run(d.billing, "Is INV-5702 paid?", context=desk_state(), run_config=DESK_RUN)
                break
            except (openai.APITimeoutError, openai.RateLimitError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.25 * (2 ** attempt))
    m.assert_done()
    return r


@scenario("desk_guardrail_passes")
async def _() -> Any:
    @input_guardrail
    def no_card_numbers(ctx: RunContextWrapper[DeskState], agent: Agent[DeskState], message: Any) -> GuardrailFunctionOutput:
        digits = sum(ch.isdigit() for ch in str(message))
        return GuardrailFunctionOutput(output_info={"digits": digits}, tripwire_triggered=digits >= 16)

    m = ScriptedResponsesModel([calls(call("get_customer_profile", {})),
                                text("You are a gold member, so returns are free for you.")])
    d = build_desk(m, guardrail=no_card_numbers)
    r = await Runner.run(d.triage, "Are returns free for me?", context=desk_state(), run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("desk_streamed_status")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "D-4410"})),
                                text("D-4410 was delivered by FedEx.")])
    d = build_desk(m)
    r = Runner.run_streamed(d.triage, "Did D-4410 arrive?", context=desk_state(), run_config=DESK_RUN)
    async for _event in r.stream_events():
        pass
    m.assert_done()
    return r


@scenario("lab_simple_brief")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "scaling laws", "limit": 2})),
                                calls(call("cite_source", {"paper_id": "arxiv:2001.08361", "style": "apa"})),
                                text(BRIEF_JSON)])
    lab = build_lab(m, brief_output=True)
    r = await Runner.run(lab.lead, "Brief me on neural scaling laws.", context=lab_state(), run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_revision_round")
async def _() -> Any:
    # Draft, critique, draft (different inputs each time), then done.
    m = ScriptedResponsesModel([
        calls(call("run_writer", {"input": "Draft a brief on compute-optimal training from: Chinchilla, Kaplan."})),
        text("Draft 1: Bigger models are always better."),
        calls(call("run_critic", {"input": "Draft 1: Bigger models are always better."})),
        text("Unsupported: Chinchilla shows data must scale with parameters. Cite both papers."),
        calls(call("run_writer", {"input": "Revise draft 1: data must scale with parameters; cite Kaplan and "
                                           "Hoffmann."})),
        text("Draft 2: Compute-optimal models scale data and parameters together (Hoffmann 2022; Kaplan 2020)."),
        text("Compute-optimal models scale data and parameters together (Hoffmann 2022; Kaplan 2020).")])
    lab = build_lab(m)
    r = await Runner.run(lab.lead, "Write a two-line brief on compute-optimal training.", context=lab_state(),
                         run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_fan_out_searches")
async def _() -> Any:
    queries = ["scaling laws", "compute optimal", "emergent abilities", "few-shot learners", "instruction tuning"]
    m = ScriptedResponsesModel([calls(*[call("search_papers", {"query": q, "limit": 2}) for q in queries]),
                                text("Five threads: scaling laws, compute-optimal training, emergence, few-shot "
                                     "prompting and instruction tuning; see the sources listed.")])
    lab = build_lab(m)
    r = await Runner.run(lab.lead, "Map the literature on LLM scaling.", context=lab_state(), run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_long_session")
async def _() -> Any:
    # 13 model calls across Lead and Researcher, each tool call with distinct arguments.
    m = ScriptedResponsesModel([
        calls(call("run_researcher", {"input": "Find the key papers on emergent abilities and scaling."})),
        calls(call("search_papers", {"query": "emergent abilities", "limit": 2})),
        calls(call("fetch_abstract", {"paper_id": "arxiv:2206.07682"})),
        calls(call("fetch_abstract", {"paper_id": "arxiv:2001.08361"})),
        calls(call("summarise_text", {"text": "Emergent abilities appear at scale and are not predictable from "
                                              "smaller models.", "max_words": 12})),
        text("Key papers: Wei 2022 (emergence), Kaplan 2020 (scaling)."),
        calls(call("search_papers", {"query": "few-shot learners", "limit": 1})),
        calls(call("cite_source", {"paper_id": "arxiv:2206.07682", "style": "apa"})),
        calls(call("cite_source", {"paper_id": "arxiv:2001.08361", "style": "apa"})),
        calls(call("cite_source", {"paper_id": "arxiv:2005.14165", "style": "apa"})),
        calls(call("run_critic", {"input": "Emergence is sharp at scale (Wei 2022); loss scales smoothly "
                                           "(Kaplan 2020); few-shot ability grows with size (Brown 2020)."})),
        text("Fine: all three claims are sourced."),
        text("Emergence is sharp at scale (Wei 2022) while loss scales smoothly (Kaplan 2020); few-shot "
             "ability grows with size (Brown 2020).")])
    lab = build_lab(m)
    r = await Runner.run(lab.lead, "How do emergent abilities relate to scaling laws?", context=lab_state(),
                         run_config=LAB_RUN, max_turns=15)
    m.assert_done()
    return r


@scenario("lab_search_quota_handled")
async def _() -> Any:
    # The index refuses the query; the model reads the in-band error and answers from what it knows,
    # saying so.
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "mixture of experts routing", "limit": 3})),
                                text("The paper index is unavailable right now, so I cannot cite sources; from "
                                     "memory, Switch Transformer and GShard are the usual starting points. "
                                     "Shall I retry the search later?")])
    lab = build_lab(m)
    r = await Runner.run(lab.lead, "Key papers on MoE routing?", context=lab_state(index_mode="quota"),
                         run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_sdk_retry_connect_ok")
async def _() -> Any:
    m = ScriptedResponsesModel([NetError("connect", "[Errno 111] Connection refused"),
                                calls(call("fetch_abstract", {"paper_id": "arxiv:2302.13971"})),
                                text("LLaMA trains smaller models on more tokens to cut inference cost.")])
    lab = build_lab(m, model_settings=sdk_retry(2, 0.2))
    r = await Runner.run(lab.researcher, "What is the LLaMA paper's main idea?", context=lab_state(),
                         run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_client_hidden_retry_ok")
async def _() -> Any:
    # The openai client's own retry (max_retries=2) absorbs a 503 after retry-after-ms; the SDK
    # sees one successful response.
    err = server_error(503)
    err.headers = {"retry-after-ms": "200"}
    m = ScriptedResponsesModel([err, text("Chinchilla (Hoffmann et al., 2022) is the compute-optimal paper.")],
                               client_retries=2)
    lab = build_lab(m)
    r = await Runner.run(lab.researcher, "Which paper introduced Chinchilla?", context=lab_state(),
                         run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_critic_approves")
async def _() -> Any:
    m = ScriptedResponsesModel([
        calls(call("run_writer", {"input": "Brief on instruction tuning: FLAN (Wei 2021)."})),
        text("Instruction tuning on many tasks improves zero-shot performance (Wei 2021)."),
        calls(call("run_critic", {"input": "Instruction tuning on many tasks improves zero-shot performance "
                                           "(Wei 2021)."})),
        text("Approved: the claim is sourced and accurate."),
        text("Instruction tuning on many tasks improves zero-shot performance (Wei 2021).")])
    lab = build_lab(m)
    r = await Runner.run(lab.lead, "One-line brief on instruction tuning.", context=lab_state(), run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("lab_writer_handoff_once")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("cite_source", {"paper_id": "arxiv:2203.15556", "style": "mla"})),
                                calls(call("transfer_to_critic", {})),
                                text("The draft is sound: it cites Hoffmann et al. for the compute-optimal claim.")])
    lab = build_lab(m, writer_critic_handoffs=True)
    r = await Runner.run(lab.writer, "Draft a sentence on Chinchilla and get it reviewed.", context=lab_state(),
                         run_config=LAB_RUN)
    m.assert_done()
    return r


@scenario("desk_sequential_same_tool_distinct")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "A-1017"})),
                                calls(call("lookup_order", {"order_id": "B-2204"})),
                                calls(call("lookup_order", {"order_id": "C-3391"})),
                                text("A-1017 shipped, B-2204 delivered, C-3391 processing.")])
    d = build_desk(m)
    r = await Runner.run(d.triage, "Status of A-1017, B-2204 and C-3391?", context=desk_state(),
                         run_config=DESK_RUN)
    m.assert_done()
    return r


@scenario("lab_structured_brief_via_writer")
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("read_outline", {"section": "intro"})),
                                calls(call("cite_source", {"paper_id": "arxiv:2005.14165", "style": "apa"})),
                                text(BRIEF_JSON)])
    lab = build_lab(m, brief_output=True)
    state = lab_state()
    state.notes["outline"] = {"intro": ["power laws", "compute-optimal"]}
    r = await Runner.run(lab.writer, "Write the brief from the outline.", context=state, run_config=LAB_RUN)
    m.assert_done()
    return r


# ---- handoff / output_parse_error ---------------------------------------------------------

@scenario("desk_refund_decision_prose", "handoff", "output_parse_error", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "B-2204"})),
                                text("Sure! Here is the decision: the refund for B-2204 is approved for $129.")])
    d = build_desk(m, refunds_output=True)
    return await Runner.run(d.refunds, "Refund B-2204, it broke.", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_brief_truncated_json", "handoff", "output_parse_error", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "emergent abilities", "limit": 2})),
                                text('{"title": "Emergent abilities", "findings": ["Abilities appear abruptly at '
                                     'scale", "Metrics choice matters'), ])
    lab = build_lab(m, brief_output=True)
    return await Runner.run(lab.lead, "Brief on emergent abilities.", context=lab_state(), run_config=LAB_RUN)


@scenario("lab_brief_markdown_fenced", "handoff", "output_parse_error", True)
async def _() -> Any:
    m = ScriptedResponsesModel([text("```json\n" + BRIEF_JSON + "\n```")])
    lab = build_lab(m, brief_output=True)
    return await Runner.run(lab.writer, "Brief on compute-optimal scaling.", context=lab_state(), run_config=LAB_RUN)


# ---- handoff / schema_mismatch ------------------------------------------------------------

@scenario("desk_refund_decision_missing_field", "handoff", "schema_mismatch", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "D-4410"})),
                                text(json.dumps({"order_id": "D-4410", "approved": True, "reason": "damaged"}))])
    d = build_desk(m, refunds_output=True)
    return await Runner.run(d.refunds, "D-4410 is damaged, refund it.", context=desk_state(), run_config=DESK_RUN)


@scenario("desk_refund_decision_wrong_type", "handoff", "schema_mismatch", True)
async def _() -> Any:
    m = ScriptedResponsesModel([text(json.dumps({"order_id": "C-3391", "approved": "pending review",
                                                 "amount": "forty-two", "reason": "not shipped"}))])
    d = build_desk(m, refunds_output=True)
    return await Runner.run(d.refunds, "Cancel and refund C-3391.", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_brief_sources_not_list", "handoff", "schema_mismatch", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("run_researcher", {"input": "papers on LLaMA"})),
                                text("LLaMA (Touvron 2023) trains on 1.4T tokens."),
                                text(json.dumps({"title": "LLaMA", "findings": "Smaller models, more tokens.",
                                                 "sources": "arxiv:2302.13971"}))])
    lab = build_lab(m, brief_output=True)
    return await Runner.run(lab.lead, "Brief on LLaMA.", context=lab_state(), run_config=LAB_RUN)


# ---- handoff / invalid_tool_args ----------------------------------------------------------

@scenario("desk_lookup_order_int_id", "handoff", "invalid_tool_args", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", '{"order_id": 1017}'))])
    d = build_desk(m, strict_errors=True)
    return await Runner.run(d.triage, "Where is order 1017?", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_search_truncated_args", "handoff", "invalid_tool_args", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", '{"query": "transformer scaling laws", "limit": 5'))])
    lab = build_lab(m, strict_errors=True)
    return await Runner.run(lab.researcher, "Find transformer scaling papers.", context=lab_state(),
                            run_config=LAB_RUN)


@scenario("desk_refund_missing_arg_corrected", "handoff", "invalid_tool_args", False)
async def _() -> Any:
    # Default failure_error_function: the validation error goes back to the model in-band, which
    # then calls the tool correctly; the run succeeds.
    m = ScriptedResponsesModel([calls(call("issue_refund", {"order": "B-2204", "amount": 129.0})),
                                calls(call("issue_refund", {"order_id": "B-2204", "amount": 129.0,
                                                            "reason": "arrived broken"})),
                                text("Refund RF-2204 for $129.00 is queued.")])
    d = build_desk(m)
    return await Runner.run(d.refunds, "Refund B-2204 (broken).", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_summarise_words_as_text", "handoff", "invalid_tool_args", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("summarise_text", {"text": "Scaling laws relate loss to compute.",
                                                              "max_words": "about twenty"}))])
    lab = build_lab(m, strict_errors=True)
    return await Runner.run(lab.researcher, "Summarise: scaling laws relate loss to compute.", context=lab_state(),
                            run_config=LAB_RUN)


@scenario("lab_cite_style_missing_corrected", "handoff", "invalid_tool_args", False)
async def _() -> Any:
    # The lab reports the validation error in-band in detail; the model fixes the call.
    m = ScriptedResponsesModel([calls(call("cite_source", {"paper": "arxiv:2109.01652"})),
                                calls(call("cite_source", {"paper_id": "arxiv:2109.01652", "style": "apa"})),
                                text("FLAN: Wei et al. (2021), Finetuned Language Models Are Zero-Shot Learners.")])
    lab = build_lab(m)
    return await Runner.run(lab.writer, "Cite the FLAN paper in APA.", context=lab_state(), run_config=LAB_RUN)


# ---- state / context_overflow -------------------------------------------------------------

@scenario("lab_overflow_after_abstracts", "state", "context_overflow", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(*[call("fetch_abstract", {"paper_id": pid}) for pid in PAPERS]),
                                context_overflow(128000, 131407)])
    lab = build_lab(m)
    return await Runner.run(lab.researcher, "Read every paper in the index and compare them.", context=lab_state(),
                            run_config=LAB_RUN)


@scenario("desk_overflow_long_history", "state", "context_overflow", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": oid})) for oid in ORDERS]
                               + [HttpError(400, "Your input exceeds the context window of this model. Please "
                                                 "adjust your input and try again.", "invalid_request_error",
                                            "context_length_exceeded", "input")])
    d = build_desk(m)
    history = "\n".join(f"[{i:03d}] customer: earlier message about order A-1017 and its delivery" for i in range(200))
    return await Runner.run(d.triage, history + "\nSo where are all my orders now?", context=desk_state(),
                            run_config=DESK_RUN)


@scenario("lab_overflow_many_pdfs", "state", "context_overflow", True)
async def _() -> Any:
    m = ScriptedResponsesModel([context_overflow(200000, 214338)])
    lab = build_lab(m)
    return await Runner.run(lab.writer, "Summarise these 40 PDFs: " + " ".join(f"doc{i}.pdf" for i in range(40)),
                            context=lab_state(template_vars={}), run_config=LAB_RUN)


# ---- state / lost_state -------------------------------------------------------------------

@scenario("desk_instructions_missing_tier", "state", "lost_state", True)
async def _() -> Any:
    m = ScriptedResponsesModel([])
    d = build_desk(m, dynamic_instructions=True)
    return await Runner.run(d.triage, "Can I upgrade my plan?", context=desk_state(session={}), run_config=DESK_RUN)


@scenario("lab_outline_missing", "state", "lost_state", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("read_outline", {"section": "methods"}))])
    lab = build_lab(m, strict_errors=True)
    return await Runner.run(lab.writer, "Write the methods section from the outline.", context=lab_state(),
                            run_config=LAB_RUN)


@scenario("lab_writer_template_var_missing", "state", "lost_state", True)
async def _() -> Any:
    m = ScriptedResponsesModel([])
    lab = build_lab(m, template_writer=True)
    return await Runner.run(lab.writer, "Draft the brief.", context=lab_state(template_vars={"length": "short"}),
                            run_config=LAB_RUN)


@scenario("desk_profile_session_lost", "state", "lost_state", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("get_customer_profile", {}))])
    d = build_desk(m, strict_errors=True)
    return await Runner.run(d.triage, "What loyalty tier am I?", context=desk_state(session={"customer_tier": "pro"}),
                            run_config=DESK_RUN)


# ---- state / redundant_work ---------------------------------------------------------------

@scenario("desk_lookup_repeated", "state", "redundant_work", False)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("lookup_order", {"order_id": "A-1017"})),
                                calls(call("lookup_order", {"order_id": "A-1017"})),
                                text("A-1017 shipped with DHL.")])
    d = build_desk(m)
    return await Runner.run(d.triage, "Where is A-1017?", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_search_repeated", "state", "redundant_work", False)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "compute optimal", "limit": 2})),
                                calls(call("fetch_abstract", {"paper_id": "arxiv:2203.15556"})),
                                calls(call("search_papers", {"query": "compute optimal", "limit": 2})),
                                text("Chinchilla: scale tokens with parameters.")])
    lab = build_lab(m)
    return await Runner.run(lab.researcher, "What is compute-optimal training?", context=lab_state(),
                            run_config=LAB_RUN)


@scenario("lab_researcher_subagent_repeated", "state", "redundant_work", False)
async def _() -> Any:
    q = {"input": "Find the main paper on few-shot learners."}
    m = ScriptedResponsesModel([calls(call("run_researcher", q)),
                                text("Brown et al. 2020, Language Models are Few-Shot Learners."),
                                calls(call("run_researcher", q)),
                                text("Brown et al. 2020, Language Models are Few-Shot Learners."),
                                text("The key paper is Brown et al. (2020).")])
    lab = build_lab(m)
    return await Runner.run(lab.lead, "Which paper showed few-shot learning at scale?", context=lab_state(),
                            run_config=LAB_RUN)


# ---- routing / loop -----------------------------------------------------------------------

@scenario("desk_refund_status_loop", "routing", "loop", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("check_refund_status", {"refund_id": "RF-2204"})) for _ in range(6)])
    d = build_desk(m)
    return await Runner.run(d.refunds, "Has refund RF-2204 landed yet?", context=desk_state(), run_config=DESK_RUN,
                            max_turns=6)


@scenario("lab_search_loop", "routing", "loop", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "sparse attention survey", "limit": 5}))
                                for _ in range(8)])
    lab = build_lab(m)
    return await Runner.run(lab.researcher, "Find a survey of sparse attention.", context=lab_state(),
                            run_config=LAB_RUN, max_turns=8)


@scenario("lab_critic_loop_as_tool", "routing", "loop", True)
async def _() -> Any:
    draft = {"input": "Draft: scaling is all you need."}
    steps: list[Any] = []
    for _ in range(5):
        steps += [calls(call("run_critic", draft)), text("Needs evidence for the central claim.")]
    m = ScriptedResponsesModel(steps)
    lab = build_lab(m)
    return await Runner.run(lab.lead, "Polish this brief until the critic is happy.", context=lab_state(),
                            run_config=LAB_RUN, max_turns=5)


# ---- routing / unknown_tool ---------------------------------------------------------------

@scenario("desk_cancel_order_not_a_tool", "routing", "unknown_tool", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("cancel_order", {"order_id": "C-3391"}))])
    d = build_desk(m)
    return await Runner.run(d.billing, "Cancel C-3391 and charge nothing.", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_web_search_not_a_tool", "routing", "unknown_tool", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "retrieval augmentation", "limit": 2})),
                                calls(call("web_search", {"q": "retrieval augmented generation 2024 survey"}))])
    lab = build_lab(m)
    return await Runner.run(lab.researcher, "Latest survey on RAG?", context=lab_state(), run_config=LAB_RUN)


@scenario("desk_transfer_to_shipping_missing", "routing", "unknown_tool", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_shipping", {}))])
    d = build_desk(m)
    return await Runner.run(d.triage, "My parcel is stuck in customs.", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_run_editor_missing", "routing", "unknown_tool", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("run_editor", {"input": "Tighten the brief."}))])
    lab = build_lab(m)
    return await Runner.run(lab.lead, "Tighten and finalise the brief.", context=lab_state(), run_config=LAB_RUN)


# ---- routing / ping_pong ------------------------------------------------------------------

@scenario("desk_billing_triage_ping_pong", "routing", "ping_pong", False)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_billing", {})), calls(call("transfer_to_triage", {})),
                                calls(call("transfer_to_billing", {})), calls(call("transfer_to_triage", {})),
                                calls(call("transfer_to_billing", {})),
                                text("The duplicate charge on INV-5604 will be reversed within 5 days.")])
    d = build_desk(m, back_handoffs=True)
    return await Runner.run(d.triage, "I was charged twice for B-2204.", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_writer_critic_ping_pong", "routing", "ping_pong", True)
async def _() -> Any:
    steps = [calls(call(f"transfer_to_{who}", {})) for _ in range(4) for who in ("critic", "writer")]
    m = ScriptedResponsesModel(steps)
    lab = build_lab(m, writer_critic_handoffs=True)
    return await Runner.run(lab.writer, "Write and review a brief on sparse attention.", context=lab_state(),
                            run_config=LAB_RUN, max_turns=8)


@scenario("desk_refunds_billing_ping_pong", "routing", "ping_pong", False)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_billing", {})), calls(call("transfer_to_refunds", {})),
                                calls(call("transfer_to_billing", {})), calls(call("transfer_to_refunds", {})),
                                calls(call("check_refund_status", {"refund_id": "RF-4410"})),
                                text("Refund RF-4410 is pending; expect it in 3 days.")])
    d = build_desk(m, back_handoffs=True)
    return await Runner.run(d.refunds, "Where is my refund for D-4410, was I billed again?", context=desk_state(),
                            run_config=DESK_RUN)


# ---- recovery / retries_exhausted ---------------------------------------------------------

@scenario("desk_sdk_retry_rate_limit_exhausted", "recovery", "retries_exhausted", True)
async def _() -> Any:
    m = ScriptedResponsesModel([rate_limited(used=29990, wait="2.4s") for _ in range(3)])
    d = build_desk(m, model_settings=sdk_retry(2, 0.2))
    return await Runner.run(d.triage, "Where is B-2204?", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_app_retry_timeout_exhausted", "recovery", "retries_exhausted", True)
async def _() -> Any:
    m = ScriptedResponsesModel([NetError("timeout", "The read operation timed out") for _ in range(3)])
    lab = build_lab(m)
    with trace("research assistant"):
        for attempt in range(3):
            try:
                return await Runner.run(lab.researcher, "Summarise the Chinchilla paper.", context=lab_state(),
                                        run_config=LAB_RUN)
            except openai.APITimeoutError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)


@scenario("lab_sdk_retry_connect_exhausted", "recovery", "retries_exhausted", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "speculative decoding", "limit": 2}))]
                               + [NetError("connect", "[Errno 111] Connection refused") for _ in range(3)])
    lab = build_lab(m, model_settings=sdk_retry(2, 0.2))
    return await Runner.run(lab.researcher, "Explain speculative decoding.", context=lab_state(), run_config=LAB_RUN)


# ---- recovery / no_retry ------------------------------------------------------------------

@scenario("desk_rate_limit_no_retry", "recovery", "no_retry", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_billing", {})), rate_limited(org="org-helpdesk")])
    d = build_desk(m)
    return await Runner.run(d.triage, "Why was I charged $84.50?", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_timeout_no_retry", "recovery", "no_retry", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "rlhf reward models", "limit": 3})),
                                NetError("timeout", "timed out")])
    lab = build_lab(m)
    return await Runner.run(lab.researcher, "Summarise RLHF reward modelling.", context=lab_state(),
                            run_config=LAB_RUN)


@scenario("lab_overloaded_no_retry", "recovery", "no_retry", True)
async def _() -> Any:
    m = ScriptedResponsesModel([server_error(503)])
    lab = build_lab(m)
    return await Runner.run(lab.lead, "Brief on KV-cache compression.", context=lab_state(), run_config=LAB_RUN)


# ---- recovery / no_backoff ----------------------------------------------------------------

@scenario("desk_app_retry_no_sleep", "recovery", "no_backoff", False)
async def _() -> Any:
    m = ScriptedResponsesModel([rate_limited(org="org-helpdesk", wait="850ms"),
                                calls(call("lookup_order", {"order_id": "B-2204"})),
                                text("B-2204 was delivered by UPS.")])
    d = build_desk(m)
    with trace("support desk"):
        for attempt in range(3):
            try:
                return await Runner.run(d.triage, "Did B-2204 arrive?", context=desk_state(), run_config=DESK_RUN)
            except openai.RateLimitError:
                if attempt == 2:
                    raise


@scenario("lab_sdk_retry_zero_delay", "recovery", "no_backoff", False)
async def _() -> Any:
    m = ScriptedResponsesModel([server_error(500), text("FlashAttention tiles the attention computation to avoid "
                                                         "materialising the full matrix.")])
    lab = build_lab(m, model_settings=sdk_retry(3, 0.0))
    return await Runner.run(lab.researcher, "What does FlashAttention do?", context=lab_state(), run_config=LAB_RUN)


@scenario("lab_app_retry_no_sleep_exhausted", "recovery", "no_backoff", True)
async def _() -> Any:
    m = ScriptedResponsesModel([server_error(503) for _ in range(3)])
    lab = build_lab(m)
    with trace("research assistant"):
        for attempt in range(3):
            try:
                return await Runner.run(lab.writer, "Draft the abstract.", context=lab_state(), run_config=LAB_RUN)
            except openai.InternalServerError:
                if attempt == 2:
                    raise


# ---- recovery / silent_failure ------------------------------------------------------------

@scenario("desk_refund_error_ignored", "recovery", "silent_failure", True)
async def _() -> Any:
    # The ledger connection fails inside issue_refund; the SDK hands the model its generic
    # in-band error, the model ignores it and tells the customer the refund went through.
    m = ScriptedResponsesModel([calls(call("issue_refund", {"order_id": "A-1017", "amount": 84.5,
                                                            "reason": "late"})),
                                text("Done! Your refund of $84.50 for A-1017 has been issued.")])
    d = build_desk(m)
    return await Runner.run(d.refunds, "Refund A-1017, it was late.", context=desk_state(ledger_mode="rejected"),
                            run_config=DESK_RUN)


@scenario("lab_researcher_failure_swallowed", "recovery", "silent_failure", True)
async def _() -> Any:
    # The Researcher sub-agent's model call fails; Agent.as_tool's default failure_error_function
    # turns it into tool output, and the Lead writes the brief anyway, unsourced.
    m = ScriptedResponsesModel([calls(call("run_researcher", {"input": "Find papers on state space models."})),
                                HttpError(400, "Invalid 'input[2].content': string too long. Expected a string "
                                               "with maximum length 1048576, but got a string with length 1203311 "
                                               "instead.", "invalid_request_error", "string_above_max_length",
                                          "input[2].content"),
                                text("State space models (Mamba, S4) match transformers on long sequences.")])
    lab = build_lab(m)
    return await Runner.run(lab.lead, "Brief on state space models.", context=lab_state(), run_config=LAB_RUN)


@scenario("desk_enrichment_run_swallowed", "recovery", "silent_failure", True)
async def _() -> Any:
    # The app runs a profile-enrichment agent first and swallows its failure, then answers anyway.
    m = ScriptedResponsesModel([calls(call("sync_crm_profile", {})),
                                text("Your order D-4410 was delivered on Tuesday.")])
    d = build_desk(m, strict_errors=True)
    with trace("support desk"):
        with contextlib.suppress(Exception):  # enrichment is best effort
            await Runner.run(d.triage, "Refresh my profile.", context=desk_state(), run_config=DESK_RUN)
        d2 = build_desk(m)
        return await Runner.run(d2.billing, "When did D-4410 arrive?", context=desk_state(), run_config=DESK_RUN)


@scenario("lab_search_bad_page_ignored", "recovery", "silent_failure", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "quantisation int4", "limit": 2})),
                                text("The leading paper on INT4 quantisation is GPTQ (Frantar 2022).")])
    lab = build_lab(m)
    return await Runner.run(lab.researcher, "Leading paper on INT4 quantisation?",
                            context=lab_state(index_mode="bad_page"), run_config=LAB_RUN)


# ---- recovery / unhandled_error -----------------------------------------------------------

@scenario("desk_refund_fee_zero_division", "recovery", "unhandled_error", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("issue_refund", {"order_id": "B-2204", "amount": 129.0,
                                                            "reason": "defective"}))])
    d = build_desk(m, strict_errors=True)
    return await Runner.run(d.refunds, "Refund B-2204.", context=desk_state(ledger_mode="zero_rate"),
                            run_config=DESK_RUN)


@scenario("desk_ledger_locked", "recovery", "unhandled_error", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("transfer_to_refunds", {})),
                                calls(call("issue_refund", {"order_id": "D-4410", "amount": 310.0,
                                                            "reason": "wrong size"}))])
    d = build_desk(m, strict_errors=True)
    return await Runner.run(d.triage, "Refund D-4410, wrong size.", context=desk_state(ledger_mode="locked"),
                            run_config=DESK_RUN)


@scenario("lab_search_unsupported_query", "recovery", "unhandled_error", True)
async def _() -> Any:
    m = ScriptedResponsesModel([calls(call("search_papers", {"query": "long context AND evaluation", "limit": 4}))])
    lab = build_lab(m, strict_errors=True)
    return await Runner.run(lab.researcher, "How is long context evaluated?", context=lab_state(index_mode="syntax"),
                            run_config=LAB_RUN)


# --------------------------------------------------------------------------------------------


def _run(name: str, fn: Scenario, verbose: bool) -> Any:
    try:
        result = asyncio.run(fn())
    except Exception as exc:
        if verbose:
            print(f"{name}: raised {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        raise
    if verbose:
        print(f"{name}: ok {str(getattr(result, 'final_output', result))[:100]!r}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument("--verbose", action="store_true", help="print how each scenario ended")
    args = parser.parse_args()
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)  # tool tracebacks are expected
    set_tracing_export_api_key("")  # never an upload key, even if a processor were registered
    corpus = Corpus(framework=FRAMEWORK, service="openai-agents-corpus")
    OpenAIAgentsInstrumentor().instrument(tracer_provider=corpus.provider)
    start = time.monotonic()
    for name, layer, mode, failed, fn in SCENARIOS:
        if args.only and args.only not in name:
            continue
        corpus.record(name, layer, mode, failed, lambda fn=fn, name=name: _run(name, fn, args.verbose))
    corpus.write(args.out)
    print(f"{len(corpus.labels)} traces in {time.monotonic() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
