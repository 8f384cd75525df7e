"""Real LangGraph / LangChain multi-agent runs, traced by OpenInference, as a labelled corpus.

    /work/venvs/langgraph/bin/python generate.py --out ../corpus

Two small apps, each built the way LangGraph apps are built (prebuilt ReAct agents under a
``langgraph-supervisor`` supervisor or in a ``langgraph-swarm`` swarm, plus hand-written
``StateGraph`` pipelines with ``Command``/``Send``/conditional edges), run offline with scripted
fake chat models:

* **support desk** (``triage`` supervisor; ``orders_agent`` with lookup_order / track_shipment /
  check_stock / average_rating, ``billing_agent`` with issue_refund / get_invoice; a ticket
  pipeline classify -> refund/respond; a reply draft/review loop);
* **research assistant** (``lead`` supervisor; ``researcher`` with web_search / fetch_paper and
  ``writer`` with format_citation, built with ``langchain.agents.create_agent``; a pipeline
  plan -> ``Send`` fan-out gather -> draft; a report draft/critique loop).

The models are ``ScriptedChatModel`` (a ``BaseChatModel`` subclass with ``bind_tools``): each call
plays the next scripted step, a reply (text and/or tool calls) or a real provider exception
(``openai.RateLimitError``, ``openai.APITimeoutError``, ``openai.BadRequestError``
``context_length_exceeded``, ``anthropic.OverloadedError``, ``anthropic.BadRequestError``
"prompt is too long"), built by the SDK's own error factory from an HTTP response. Tools talk to
in-process fake services that raise ``httpx`` errors on cue. Every failure happens inside the
framework's code path: LangChain output parsers and ``with_structured_output``, pydantic
validation of tool arguments and of a pydantic graph state, prebuilt ``ToolNode`` error handling
(unknown tool and invalid arguments come back to the model as ``status="error"`` ToolMessages),
``Runnable.with_retry`` (tenacity, ``wait_exponential_jitter``), LangGraph node ``RetryPolicy``,
``recursion_limit`` (``GraphRecursionError``, and ``create_react_agent``'s "Sorry, need more
steps" at ``remaining_steps``), ``InvalidUpdateError``, prompt templates missing variables.

Scenarios (one trace each; ``SCENARIOS`` below holds them with their labels):

* clean (20): supervisor handoffs (delegate and return, two workers), swarm single handoffs,
  ``with_retry`` + ``wait_exponential_jitter`` after RateLimitError / Anthropic 529, node
  ``RetryPolicy`` back-off after ReadTimeout, tool ``with_retry`` after ConnectError, revision rounds
  (draft, critique, draft; draft, critique, draft, approve), a declined refund and a rejected search
  query handled in-band (ToolException -> ToolMessage status "error", agent answers sensibly), no
  search results, long conversations (13 and 11 model calls, distinct args), parallel tool calls,
  ``Send`` fan-out, structured plan, ticket parser, direct FAQ answer;
* handoff: output_parse_error (PydanticOutputParser on prose, JsonOutputParser on invalid JSON,
  parser chain ``with_retry`` exhausted), schema_mismatch (``with_structured_output`` missing field,
  PydanticOutputParser wrong type, pydantic graph state rejecting a node's update),
  invalid_tool_args (ToolNode error message then fixed, twice; ``handle_tool_errors=False``);
* state: context_overflow (OpenAI context_length_exceeded, Anthropic "prompt is too long", one
  pointlessly retried), lost_state (KeyError on a key never written, prompt missing a variable,
  InvalidUpdateError on parallel writes), redundant_work (same tool + args after success, three);
* routing: loop (GraphRecursionError in a hand-written ReAct loop, a critic loop and a
  ``create_agent`` loop; ``create_react_agent``'s "Sorry, need more steps"), unknown_tool (unknown
  tool and unknown ``transfer_to_*`` agent answered in-band and recovered, ``Command(goto=)`` to a
  missing node, router output not in the path map), ping_pong (swarm back-and-forth ending in an
  answer, twice, and one stopped by the recursion limit);
* recovery: retries_exhausted (``with_retry`` on the model, node ``RetryPolicy``, tool ``with_retry``),
  no_retry (APITimeoutError, httpx ConnectError in a tool, OpenAI 500, Anthropic 429),
  no_backoff (``with_retry(wait_exponential_jitter=False)``, ``RetryPolicy(initial_interval=0)``,
  tool ``with_retry`` without wait; all then succeed), silent_failure (tool errors caught in a
  node and replaced by a default; ``ToolNode(handle_tool_errors=True)`` error the model ignores),
  unhandled_error (ZeroDivisionError in a tool, two custom exceptions escaping ToolNode).

LangGraph can produce every mode of the catalog. Two shapes are notable: a ``Command(goto=...)`` to
a node that does not exist is not an error (LangGraph logs "wrote to unknown channel
branch:to:X, ignoring it" and the run ends OK), so that unknown-route trace is a silent routing
failure; and ``create_react_agent`` turns its recursion budget into a final "Sorry, need more
steps to process this request." answer (root OK) instead of raising ``GraphRecursionError``.
"""

from __future__ import annotations

import argparse
import json
import logging
import operator
import os
import re
import sys
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

# Offline: no LangSmith tracing or telemetry.
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_OTEL_ENABLED"] = "false"
os.environ.pop("LANGSMITH_API_KEY", None)
os.environ.pop("LANGCHAIN_API_KEY", None)
os.environ["OPENAI_API_KEY"] = "sk-corpus-offline"
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-corpus-offline"
warnings.filterwarnings("ignore")
logging.getLogger("langgraph").setLevel(logging.ERROR)

import anthropic  # noqa: E402
import httpx  # noqa: E402
import httpx2  # noqa: E402
import openai  # noqa: E402
from langchain.agents import create_agent  # noqa: E402
from langchain_core.exceptions import OutputParserException  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage  # noqa: E402
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser, StrOutputParser  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.tools import ToolException, tool  # noqa: E402
from langchain_core.utils.function_calling import convert_to_openai_tool  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition  # noqa: E402
from langgraph.types import Command, RetryPolicy, Send  # noqa: E402
from langgraph_supervisor import create_supervisor  # noqa: E402
from langgraph_swarm import create_handoff_tool, create_swarm  # noqa: E402
from openinference.instrumentation.langchain import LangChainInstrumentor  # noqa: E402
from pydantic import BaseModel, Field, PrivateAttr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus_kit import Corpus  # noqa: E402

# Short, real back-off for the look-alike retries (tenacity's wait_exponential_jitter).
BACKOFF = {"initial": 0.2, "max": 0.3, "exp_base": 2, "jitter": 0.05}


# --------------------------------------------------------------------------------------------
# Scripted chat model
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    """One scripted model turn: text and/or tool calls ``(name, args)``."""

    text: str = ""
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()


def say(text: str) -> Reply:
    return Reply(text=text)


def use(*calls: tuple[str, dict[str, Any]], text: str = "") -> Reply:
    return Reply(text=text, calls=tuple(calls))


@dataclass(frozen=True)
class Raise:
    """A scripted turn that raises the exception ``make()`` builds (fresh each time)."""

    make: Callable[[], BaseException]


def _tokens(messages: list[BaseMessage]) -> int:
    return sum(len(str(m.content)) + len(json.dumps(getattr(m, "tool_calls", []) or [])) for m in messages) // 4 + 12


class ScriptedChatModel(BaseChatModel):
    """A fake chat model that plays a script; the last step repeats when ``repeat_last``."""

    steps: list[Any]
    model_name: str = "gpt-4o-mini"
    provider: str = "openai"
    repeat_last: bool = False
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return f"{self.provider}-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": 0.0}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        params["ls_temperature"] = 0.0
        return params

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        i = self._calls
        self._calls += 1
        if i >= len(self.steps):
            if not self.repeat_last:
                raise AssertionError(f"generator bug: script of {len(self.steps)} steps exhausted")
            i = len(self.steps) - 1
        step = self.steps[i]
        if isinstance(step, Raise):
            raise step.make()
        prompt_tokens = _tokens(messages)
        message = AIMessage(
            content=step.text,
            tool_calls=[{"name": n, "args": a, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "tool_call"}
                        for n, a in step.calls],
            usage_metadata={"input_tokens": prompt_tokens, "output_tokens": len(step.text) // 4 + 8 * len(step.calls) + 1,
                            "total_tokens": prompt_tokens + len(step.text) // 4 + 8 * len(step.calls) + 1},
            response_metadata={"model_name": self.model_name,
                               "finish_reason": "tool_calls" if step.calls else "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def gpt(*steps: Any, repeat_last: bool = False) -> ScriptedChatModel:
    return ScriptedChatModel(steps=list(steps), model_name="gpt-4o-mini-2024-07-18", repeat_last=repeat_last)


def claude(*steps: Any, repeat_last: bool = False) -> ScriptedChatModel:
    return ScriptedChatModel(steps=list(steps), model_name="claude-sonnet-4-5-20250929", provider="anthropic",
                             repeat_last=repeat_last)


# --------------------------------------------------------------------------------------------
# Provider errors, built by the SDKs' own factories from an HTTP response
# --------------------------------------------------------------------------------------------

_OPENAI = openai.OpenAI(api_key="sk-corpus-offline", max_retries=0)
_ANTHROPIC = anthropic.Anthropic(api_key="sk-ant-corpus-offline", max_retries=0)
_OPENAI_URL = "https://api.openai.com/v1/chat/completions"
_ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"


def _openai_status(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> Exception:
    response = httpx2.Response(status, request=httpx2.Request("POST", _OPENAI_URL), json={"error": error},
                               headers={"x-request-id": f"req_{uuid.uuid4().hex[:24]}", **(headers or {})})
    return _OPENAI._make_status_error_from_response(response)


def _anthropic_status(status: int, error: dict[str, Any]) -> Exception:
    response = httpx2.Response(status, request=httpx2.Request("POST", _ANTHROPIC_URL),
                               json={"type": "error", "error": error, "request_id": f"req_{uuid.uuid4().hex[:24]}"},
                               headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"})
    return _ANTHROPIC._make_status_error_from_response(response)


def openai_rate_limit(ms: int = 287) -> Exception:
    return _openai_status(429, {
        "message": f"Rate limit reached for gpt-4o-mini in organization org-corpus on tokens per min (TPM): "
                   f"Limit 200000, Used 199610, Requested 1342. Please try again in {ms}ms. Visit "
                   f"https://platform.openai.com/account/rate-limits to learn more.",
        "type": "tokens", "param": None, "code": "rate_limit_exceeded"}, {"retry-after-ms": str(ms)})


def openai_timeout() -> Exception:
    return openai.APITimeoutError(request=httpx2.Request("POST", _OPENAI_URL))


def openai_server_error() -> Exception:
    return _openai_status(500, {"message": "The server had an error while processing your request. Sorry about that!",
                                "type": "server_error", "param": None, "code": None})


def openai_context_overflow(tokens: int) -> Exception:
    return _openai_status(400, {
        "message": f"This model's maximum context length is 128000 tokens. However, your messages resulted in "
                   f"{tokens} tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"})


def anthropic_overloaded() -> Exception:
    return _anthropic_status(529, {"type": "overloaded_error", "message": "Overloaded"})


def anthropic_prompt_too_long(tokens: int) -> Exception:
    return _anthropic_status(400, {"type": "invalid_request_error",
                                   "message": f"prompt is too long: {tokens} tokens > 200000 maximum"})


def anthropic_rate_limit() -> Exception:
    return _anthropic_status(429, {
        "type": "rate_limit_error",
        "message": "This request would exceed the rate limit for your organization (org-corpus) of 40,000 input "
                   "tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see "
                   "the response headers for current usage. Please reduce the prompt length or the maximum tokens "
                   "requested, or try again later."})


def connect_error(host: str) -> Exception:
    return httpx.ConnectError("[Errno 111] Connection refused",
                              request=httpx.Request("GET", f"http://{host}/"))


def read_timeout(host: str) -> Exception:
    return httpx.ReadTimeout("The read operation timed out", request=httpx.Request("GET", f"http://{host}/"))


def bad_gateway(url: str) -> Exception:
    request = httpx.Request("POST", url)
    response = httpx.Response(502, request=request, text="<html><body><h1>502 Bad Gateway</h1></body></html>")
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as e:
        return e
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# In-process fake services; FAULTS[tool] is a queue of exceptions the next calls raise
# --------------------------------------------------------------------------------------------

FAULTS: dict[str, list[Callable[[], BaseException]]] = {}


def _fault(name: str) -> None:
    queue = FAULTS.get(name)
    if queue:
        raise queue.pop(0)()


ORDERS = {
    "A-1017": {"status": "shipped", "carrier": "UPS", "tracking": "1Z999AA10123456784", "total": 59.90, "days_since_delivery": None},
    "A-2290": {"status": "delivered", "carrier": "DHL", "tracking": "JD014600006281234567", "total": 129.00, "days_since_delivery": 45},
    "A-3304": {"status": "processing", "carrier": None, "tracking": None, "total": 412.50, "days_since_delivery": None},
    "A-4411": {"status": "delivered", "carrier": "FedEx", "tracking": "794644790138", "total": 24.99, "days_since_delivery": 3},
    "A-5120": {"status": "shipped", "carrier": "USPS", "tracking": "9400111899223197428490", "total": 78.00, "days_since_delivery": None},
    "A-6008": {"status": "cancelled", "carrier": None, "tracking": None, "total": 15.00, "days_since_delivery": None},
    "A-7342": {"status": "shipped", "carrier": "UPS", "tracking": "1Z999AA10123456785", "total": 230.10, "days_since_delivery": None},
}
TRACKING = {o["tracking"]: (o["carrier"], i) for i, o in enumerate(ORDERS.values()) if o["tracking"]}
STOCK = {"SKU-KETTLE-2L": 14, "SKU-MUG-SET": 0, "SKU-GRINDER-PRO": 3}
REVIEWS: dict[str, list[int]] = {"SKU-KETTLE-2L": [5, 4, 4, 5], "SKU-MUG-SET": [3, 4], "SKU-GRINDER-PRO": []}
INVOICES = {"INV-88123": {"order": "A-2290", "amount": 129.00, "vat": 21.50}, "INV-88450": {"order": "A-4411", "amount": 24.99, "vat": 4.17}}


class FraudHoldError(Exception):
    """Raised by the payments service when an order is held for manual review."""


class CitationStyleError(Exception):
    """Raised by the citation formatter for a style it does not know."""


# Where these live in the apps this corpus stands for (the exception type in the spans is module.class).
FraudHoldError.__module__ = "desk.payments"
CitationStyleError.__module__ = "research.citations"


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order by its id (like A-1017): status, carrier, tracking number and total."""
    _fault("lookup_order")
    order = ORDERS.get(order_id)
    if order is None:
        return f"No order found with id {order_id}."
    return json.dumps({"order_id": order_id, **order})


@tool
def track_shipment(tracking_number: str) -> str:
    """Track a parcel by carrier tracking number."""
    _fault("track_shipment")
    carrier, i = TRACKING.get(tracking_number, ("unknown", 0))
    return f"{carrier} {tracking_number}: in transit, last scan Leipzig hub, estimated delivery in {2 + i % 3} days."


@tool
def check_stock(sku: str) -> str:
    """Units in stock for a product SKU."""
    _fault("check_stock")
    return f"{sku}: {STOCK.get(sku, 0)} units in stock"


@tool
def average_rating(sku: str) -> str:
    """Average customer rating (1-5) of a product SKU."""
    ratings = REVIEWS.get(sku, [])
    return f"{sku}: {sum(ratings) / len(ratings):.1f} / 5 from {len(ratings)} reviews"


@tool
def issue_refund(order_id: str, amount: float, reason: str) -> str:
    """Refund (part of) an order to the original payment method."""
    _fault("issue_refund")
    order = ORDERS[order_id]
    if order["days_since_delivery"] and order["days_since_delivery"] > 30:
        raise ToolException(f"Refund declined: order {order_id} was delivered {order['days_since_delivery']} days ago "
                            f"and the refund window is 30 days. Offer store credit instead.")
    if order_id == "A-3304":
        raise FraudHoldError(f"Order {order_id} is on fraud hold; payments service requires manual review before refunds")
    return f"Refund of {amount:.2f} EUR for {order_id} issued (reason: {reason}); reference RF-{abs(hash(order_id)) % 100000:05d}."


issue_refund.handle_tool_error = True  # a declined refund goes back to the agent as an error ToolMessage


@tool
def get_invoice(invoice_id: str) -> str:
    """Fetch an invoice by id (like INV-88123)."""
    _fault("get_invoice")
    inv = INVOICES.get(invoice_id)
    return json.dumps({"invoice_id": invoice_id, **inv}) if inv else f"Invoice {invoice_id} not found."


PAPERS = {
    "10.1038/s41560-023-01234-5": ("Operational stability of perovskite solar modules", "Lee et al.", 2023),
    "10.1126/science.adf5872": ("Tin-based perovskites with suppressed oxidation", "Zhang et al.", 2024),
    "10.1016/j.joule.2024.02.011": ("Encapsulation strategies for outdoor perovskite PV", "Garcia et al.", 2024),
    "10.1038/s41586-024-07012-3": ("Solid-state sodium batteries with halide electrolytes", "Okafor et al.", 2024),
    "10.1021/acsenergylett.3c02210": ("Hard-carbon anodes for sodium-ion cells", "Novak et al.", 2023),
}
KEYWORDS = {
    "10.1038/s41560-023-01234-5": {"perovskite", "stability", "module", "operational", "lifetime", "1000"},
    "10.1126/science.adf5872": {"perovskite", "tin", "oxidation", "degradation", "sn"},
    "10.1016/j.joule.2024.02.011": {"perovskite", "encapsulation", "outdoor", "durability"},
    "10.1038/s41586-024-07012-3": {"sodium", "solid", "electrolyte", "halide", "battery"},
    "10.1021/acsenergylett.3c02210": {"sodium", "hard", "carbon", "anode", "ion"},
}


def _search(query: str, max_results: int) -> list[str]:
    """The best-matching DOIs: most query words in common (ties kept), at most max_results."""
    words = {w.rstrip("s") if len(w) > 4 else w for w in re.split(r"[^a-z0-9]+", query.lower()) if w}
    scored = {doi: len(words & {k.rstrip("s") if len(k) > 4 else k for k in kw}) for doi, kw in KEYWORDS.items()}
    best = max(scored.values())
    return [doi for doi, n in scored.items() if n and n == best][:max_results]


@tool
def web_search(query: str, max_results: int = 5) -> str:
    """Search the web and scholarly indexes; returns titles and DOIs."""
    _fault("web_search")
    if len(query) > 120:
        raise ToolException(f"Search backend rejected the query: query is {len(query)} characters, the limit is 120.")
    hits = _search(query, max_results)
    if not hits:
        return f"No results found for '{query}'."
    return "\n".join(f"- {PAPERS[d][0]} ({PAPERS[d][1]}, {PAPERS[d][2]}) doi:{d}" for d in hits)


web_search.handle_tool_error = True


@tool
def fetch_paper(doi: str) -> str:
    """Fetch a paper's abstract by DOI."""
    _fault("fetch_paper")
    title, authors, year = PAPERS.get(doi, ("Unknown", "n/a", 0))
    return f"{title} — {authors} ({year}). Abstract: we report {title.lower()} with measured results over 1000 h."


@tool
def format_citation(doi: str, style: Literal["apa", "mla", "chicago", "ieee"]) -> str:
    """Format a citation for a DOI in a citation style."""
    _fault("format_citation")
    title, authors, year = PAPERS[doi]
    return f"{authors} ({year}). {title}. https://doi.org/{doi}" if style == "apa" else f"{authors}, \"{title},\" {year}."


@tool
def format_citation_any(doi: str, style: str) -> str:
    """Format a citation for a DOI in any CSL citation style."""
    if style not in {"apa", "mla", "chicago", "ieee", "vancouver", "harvard"}:
        raise CitationStyleError(f"Unsupported citation style '{style}': no CSL file named {style}.csl in the style repository")
    title, authors, year = PAPERS[doi]
    return f"{authors} ({year}). {title}."


SUPPORT_PROMPT = "You are the triage agent of an online kitchenware shop. Hand order questions to orders_agent and money questions to billing_agent."
ORDERS_PROMPT = "You are orders_agent. Answer questions about orders, shipping and stock with your tools."
BILLING_PROMPT = "You are billing_agent. Handle refunds and invoices. Follow the 30-day refund policy."
LEAD_PROMPT = "You are the lead of a research assistant team. Delegate literature search to researcher and writing to writer."
RESEARCHER_PROMPT = "You are researcher. Find and read sources with web_search and fetch_paper; report findings with DOIs."
WRITER_PROMPT = "You are writer. Write concise, cited summaries. Format citations with format_citation."

# --------------------------------------------------------------------------------------------
# App builders
# --------------------------------------------------------------------------------------------


def orders_agent(model: Any, *extra: Any, name: str = "orders_agent") -> Any:
    return create_react_agent(model, [lookup_order, track_shipment, check_stock, *extra], prompt=ORDERS_PROMPT, name=name)


def billing_agent(model: Any, *extra: Any) -> Any:
    return create_react_agent(model, [issue_refund, get_invoice, *extra], prompt=BILLING_PROMPT, name="billing_agent")


def support_desk(triage: Any, orders: Any, billing: Any) -> Any:
    workers = [orders_agent(orders), billing_agent(billing)]
    return create_supervisor(workers, model=triage, prompt=SUPPORT_PROMPT, supervisor_name="triage").compile()


def researcher(model: Any, *extra: Any) -> Any:
    return create_agent(model, [web_search, fetch_paper, *extra], system_prompt=RESEARCHER_PROMPT, name="researcher")


def writer(model: Any, *extra: Any) -> Any:
    return create_agent(model, [format_citation, *extra], system_prompt=WRITER_PROMPT, name="writer")


def research_team(lead: Any, res: Any, wri: Any) -> Any:
    return create_supervisor([researcher(res), writer(wri)], model=lead, prompt=LEAD_PROMPT,
                             supervisor_name="lead").compile()


def ask(graph: Any, question: str, **config: Any) -> Any:
    return graph.invoke({"messages": [HumanMessage(question)]}, config or None)


def handoff(agent: str) -> tuple[str, dict[str, Any]]:
    return (f"transfer_to_{agent}", {})


# Hand-written pipelines -----------------------------------------------------------------------

class Ticket(BaseModel):
    """A classified support ticket."""

    category: Literal["order_status", "refund", "invoice", "other"]
    order_id: str | None = Field(default=None, description="order id like A-1017")
    priority: Literal["low", "normal", "high"] = "normal"


class RefundDecision(BaseModel):
    """Refund to issue for a ticket."""

    order_id: str
    amount: float = Field(description="EUR to refund")
    reason: str


class ResearchPlan(BaseModel):
    """A plan for a literature review."""

    topic: str
    queries: list[str]
    max_sources: int = Field(description="how many papers to read")


class PaperSummary(BaseModel):
    """A one-paragraph summary with its sources."""

    summary: str
    dois: list[str]


TICKET_PROMPT = ChatPromptTemplate.from_messages([
    ("system", "Classify the customer message into a support ticket.\n{format_instructions}"),
    ("human", "{message}"),
])


class TicketState(TypedDict, total=False):
    message: str
    ticket: dict[str, Any]
    order: str
    order_id: str
    refund: dict[str, Any]
    reply: str
    notes: Annotated[list[str], operator.add]


class ReviewState(TypedDict, total=False):
    request: str
    draft: str
    critique: str
    revisions: int
    approved: bool


class ResearchState(TypedDict, total=False):
    topic: str
    audience: str
    plan: dict[str, Any]
    findings: Annotated[list[str], operator.add]
    summary: str
    draft: str
    critique: str
    rounds: int
    approved: bool


def ticket_pipeline(classifier: Any, answerer: Any, *, refund_model: Any = None, lost_key: bool = False) -> Any:
    """classify (prompt | model | PydanticOutputParser) -> Command(goto=lookup|refund|respond) -> respond."""
    parser = PydanticOutputParser(pydantic_object=Ticket)
    classify_chain = TICKET_PROMPT.partial(format_instructions=parser.get_format_instructions()) | classifier | parser

    def classify(state: TicketState) -> Command[Literal["lookup", "refund", "respond"]]:
        ticket = classify_chain.invoke({"message": state["message"]})
        update: dict[str, Any] = {"ticket": ticket.model_dump()}
        if ticket.order_id:
            update["order" if lost_key else "order_id"] = ticket.order_id
        goto = {"order_status": "lookup", "refund": "refund"}.get(ticket.category, "respond")
        return Command(goto=goto, update=update)

    def lookup(state: TicketState) -> dict[str, Any]:
        return {"notes": [lookup_order.invoke({"order_id": state["order_id"]})]}

    def refund(state: TicketState) -> dict[str, Any]:
        order_id = state["order_id"]
        decision = (refund_model or answerer).with_structured_output(RefundDecision).invoke(
            [SystemMessage(BILLING_PROMPT), HumanMessage(f"{state['message']}\nOrder: {lookup_order.invoke({'order_id': order_id})}")])
        return {"refund": decision.model_dump(), "notes": [f"refund {decision.amount:.2f} for {decision.order_id}"]}

    def respond(state: TicketState) -> dict[str, Any]:
        chain = ChatPromptTemplate.from_messages([("system", "Write a short, friendly reply using these notes: {notes}"),
                                                  ("human", "{message}")]) | answerer | StrOutputParser()
        return {"reply": chain.invoke({"notes": "; ".join(state.get("notes", [])), "message": state["message"]})}

    g = StateGraph(TicketState)
    g.add_node("classify", classify)
    g.add_node("lookup", lookup)
    g.add_node("refund", refund)
    g.add_node("respond", respond)
    g.add_edge(START, "classify")
    g.add_edge("lookup", "respond")
    g.add_edge("refund", "respond")
    g.add_edge("respond", END)
    return g.compile(name="ticket_pipeline")


def review_loop(drafter: Any, reviewer: Any, *, max_revisions: int | None = 1, name: str = "reply_review") -> Any:
    """draft -> review -> draft ... until the reviewer approves or max_revisions redrafts are done (None: no cap)."""

    def draft(state: ReviewState) -> dict[str, Any]:
        prompt = [SystemMessage("Draft the deliverable."), HumanMessage(state["request"])]
        if state.get("critique"):
            prompt.append(HumanMessage(f"Revise your draft:\n{state['draft']}\nReviewer notes: {state['critique']}"))
        return {"draft": drafter.invoke(prompt).content, "revisions": state.get("revisions", -1) + 1}

    def review(state: ReviewState) -> dict[str, Any]:
        verdict = reviewer.invoke([SystemMessage("Review the draft. Start with APPROVE or REVISE."), HumanMessage(state["draft"])]).content
        return {"critique": verdict, "approved": verdict.startswith("APPROVE")}

    def after_draft(state: ReviewState) -> str:
        return END if max_revisions is not None and state["revisions"] >= max_revisions else "review"

    def after_review(state: ReviewState) -> str:
        return END if state["approved"] else "draft"

    g = StateGraph(ReviewState)
    g.add_node("draft", draft)
    g.add_node("review", review)
    g.add_edge(START, "draft")
    g.add_conditional_edges("draft", after_draft, ["review", END])
    g.add_conditional_edges("review", after_review, ["draft", END])
    return g.compile(name=name)


def research_pipeline(planner: Any, drafter: Any, *, fetch: Any = None, gather_retry: RetryPolicy | None = None,
                      swallow_fetch_errors: bool = False, draft_prompt: ChatPromptTemplate | None = None,
                      parallel_summaries: bool = False) -> Any:
    """plan (with_structured_output) -> Send(gather) per query -> draft."""
    fetcher = fetch or fetch_paper

    def plan(state: ResearchState) -> dict[str, Any]:
        p = planner.with_structured_output(ResearchPlan).invoke(
            [SystemMessage("Plan a short literature review."), HumanMessage(state["topic"])])
        return {"plan": p.model_dump()}

    def fan_out(state: ResearchState) -> list[Send]:
        return [Send("gather", {"topic": q}) for q in state["plan"]["queries"]]

    def gather(state: ResearchState) -> dict[str, Any]:
        hits = web_search.invoke({"query": state["topic"], "max_results": 2})
        dois = [line.split("doi:")[1] for line in hits.splitlines() if "doi:" in line]
        found = []
        for doi in dois:
            try:
                found.append(fetcher.invoke({"doi": doi}))
            except Exception:
                if not swallow_fetch_errors:
                    raise
                logging.getLogger("research").warning("fetch failed for %s", doi)
        return {"findings": found}

    prompt = draft_prompt or ChatPromptTemplate.from_messages([
        ("system", "Write a two-paragraph review of the findings for {audience}."), ("human", "Topic: {topic}\n{findings}")])

    def draft(state: ResearchState) -> dict[str, Any]:
        chain = prompt | drafter | StrOutputParser()
        return {"draft": chain.invoke({"topic": state["topic"], "findings": "\n".join(state.get("findings", [])),
                                       **({"audience": state["audience"]} if "audience" in state else {})})}

    def summarise_methods(state: ResearchState) -> dict[str, Any]:
        return {"summary": f"methods of {len(state.get('findings', []))} papers"}

    def summarise_results(state: ResearchState) -> dict[str, Any]:
        return {"summary": f"results of {len(state.get('findings', []))} papers"}

    g = StateGraph(ResearchState)
    g.add_node("plan", plan)
    g.add_node("gather", gather, retry_policy=gather_retry)
    g.add_node("draft", draft)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan_out, ["gather"])
    if parallel_summaries:
        g.add_node("summarise_methods", summarise_methods)
        g.add_node("summarise_results", summarise_results)
        g.add_edge("gather", "summarise_methods")
        g.add_edge("gather", "summarise_results")
        g.add_edge(["summarise_methods", "summarise_results"], "draft")
    else:
        g.add_edge("gather", "draft")
    g.add_edge("draft", END)
    return g.compile(name="research_pipeline")


def react_graph(model: Any, tools: list[Any], *, handle_tool_errors: Any = None, name: str = "agent_loop") -> Any:
    """A hand-written ReAct loop: agent -> ToolNode -> agent, as in the LangGraph docs."""
    bound = model.bind_tools(tools)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    node = ToolNode(tools) if handle_tool_errors is None else ToolNode(tools, handle_tool_errors=handle_tool_errors)
    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", node)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(name=name)


def plan_reply(topic: str, *queries: str, n: int = 3) -> Reply:
    return use(("ResearchPlan", {"topic": topic, "queries": list(queries), "max_sources": n}))


def ticket_json(category: str, order_id: str | None, priority: str = "normal") -> Reply:
    return say(json.dumps({"category": category, "order_id": order_id, "priority": priority}))


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------

SCENARIOS: list[tuple[str, str, str, bool, Callable[[], Any]]] = []
PROBLEMS: list[str] = []


def scenario(layer: str, mode: str, failed: bool, faults: dict[str, list[Callable[[], BaseException]]] | None = None,
             raises: str | None = None):
    """Register a scenario; ``raises`` names the exception class the run must end with (None: it must not raise)."""

    def deco(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            FAULTS.clear()
            FAULTS.update({k: list(v) for k, v in (faults or {}).items()})
            try:
                result = fn()
            except Exception as e:
                if type(e).__name__ != raises:
                    PROBLEMS.append(f"{fn.__name__}: raised {type(e).__name__}: {str(e)[:200]}, expected {raises}")
                raise
            if raises:
                PROBLEMS.append(f"{fn.__name__}: did not raise, expected {raises}")
            return result
        SCENARIOS.append((fn.__name__, layer, mode, failed, run))
        return fn
    return deco


# ---- clean runs ------------------------------------------------------------------------------

@scenario("none", "none", False)
def support_order_status_handoff() -> Any:
    return ask(support_desk(
        gpt(use(handoff("orders_agent")), say("Your order A-1017 shipped with UPS (tracking 1Z999AA10123456784) and should arrive within two days.")),
        gpt(use(("lookup_order", {"order_id": "A-1017"})), say("A-1017 shipped via UPS, tracking 1Z999AA10123456784.")),
        gpt(),
    ), "Hi, where is my order A-1017?")


@scenario("none", "none", False)
def research_lit_review_handoffs() -> Any:
    doi = "10.1038/s41560-023-01234-5"
    return ask(research_team(
        gpt(use(handoff("researcher")), use(handoff("writer")),
            say("Summary: perovskite modules now keep 90% efficiency after 1000 h (Lee et al., 2023).")),
        gpt(use(("web_search", {"query": "perovskite module operational stability 2023"})),
            use(("fetch_paper", {"doi": doi})), say(f"Key source: Lee et al. 2023, doi:{doi}, 1000 h stability.")),
        gpt(use(("format_citation", {"doi": doi, "style": "apa"})),
            say("Perovskite modules retained 90% efficiency over 1000 h (Lee et al., 2023).")),
    ), "Give me a short review of perovskite module stability.")


@scenario("none", "none", False)
def support_rate_limit_retried_with_backoff() -> Any:
    model = gpt(Raise(openai_rate_limit), use(("get_invoice", {"invoice_id": "INV-88450"})),
                say("Invoice INV-88450: 24.99 EUR including 4.17 EUR VAT."))
    agent = create_react_agent(model.bind_tools([issue_refund, get_invoice]).with_retry(
        retry_if_exception_type=(openai.RateLimitError,), exponential_jitter_params=BACKOFF, stop_after_attempt=3),
        [issue_refund, get_invoice], prompt=BILLING_PROMPT, name="billing_agent")
    return ask(agent, "Can you send me the amounts on invoice INV-88450?")


@scenario("none", "none", False, faults={"web_search": [lambda: read_timeout("search.internal:8080")]})
def research_search_timeout_node_retry_policy() -> Any:
    return research_pipeline(
        gpt(plan_reply("sodium-ion anodes", "sodium hard-carbon anode")),
        gpt(say("Hard-carbon anodes dominate sodium-ion cells (Novak et al., 2023).")),
        gather_retry=RetryPolicy(initial_interval=0.25, backoff_factor=2.0, max_attempts=3, jitter=False,
                                 retry_on=(httpx.TimeoutException, httpx.ConnectError)),
    ).invoke({"topic": "sodium-ion battery anodes", "audience": "battery engineers"})


@scenario("none", "none", False, faults={"fetch_paper": [lambda: connect_error("papers.internal:9000")]})
def research_fetch_connect_error_retried_with_backoff() -> Any:
    fetch = fetch_paper.with_retry(retry_if_exception_type=(httpx.ConnectError,), exponential_jitter_params=BACKOFF,
                                   stop_after_attempt=3)
    return research_pipeline(
        gpt(plan_reply("perovskite encapsulation", "perovskite encapsulation outdoor")),
        gpt(say("Encapsulation is the main lever for outdoor perovskite lifetime (Garcia et al., 2024).")),
        fetch=fetch,
    ).invoke({"topic": "perovskite encapsulation", "audience": "PV engineers"})


@scenario("none", "none", False)
def support_reply_revision_round() -> Any:
    return review_loop(
        gpt(say("Dear customer, your kettle refund is being looked at."),
            say("Dear Ms Novak, we refunded 59.90 EUR for order A-1017 today; expect it within 5 working days.")),
        gpt(say("REVISE: give the amount, the order and when the money arrives.")),
        max_revisions=1,
    ).invoke({"request": "Reply to Ms Novak about the refund for A-1017 (59.90 EUR, issued today)."})


@scenario("none", "none", False)
def research_report_revision_round() -> Any:
    return review_loop(
        claude(say("Sodium-ion cells are cheap."),
               say("Sodium-ion cells cost ~20% less per kWh than LFP and now reach 160 Wh/kg (Okafor et al., 2024).")),
        claude(say("REVISE: quantify cost and energy density and cite a source."),
               say("APPROVE: quantified and cited.")),
        max_revisions=None, name="report_review",
    ).invoke({"request": "One-paragraph executive summary on sodium-ion batteries."})


@scenario("none", "none", False)
def support_refund_declined_handled() -> Any:
    return ask(support_desk(
        gpt(use(handoff("billing_agent")),
            say("Order A-2290 is past the 30-day refund window, so I can't refund it, but we can offer 129.00 EUR store credit.")),
        gpt(),
        gpt(use(("issue_refund", {"order_id": "A-2290", "amount": 129.0, "reason": "changed mind"})),
            say("The refund was declined: A-2290 was delivered 45 days ago (30-day window). I offered store credit.")),
    ), "I want my money back for order A-2290.")


@scenario("none", "none", False)
def research_search_rejected_then_rephrased() -> Any:
    long_q = ("comprehensive survey of all degradation mechanisms in tin based and lead based perovskite solar cells "
              "under humidity heat and light soaking")
    return ask(researcher(gpt(
        use(("web_search", {"query": long_q})),
        use(("web_search", {"query": "tin perovskite degradation"})),
        say("Tin-based perovskites oxidise Sn2+ to Sn4+; Zhang et al. (2024) suppress it (doi:10.1126/science.adf5872)."))),
        "What are the main degradation mechanisms of tin perovskites?")


@scenario("none", "none", False)
def support_long_conversation() -> Any:
    ids = ["A-1017", "A-2290", "A-4411", "A-5120", "A-6008", "A-7342"]
    steps: list[Any] = []
    for oid in ids:
        steps.append(use(("lookup_order", {"order_id": oid})))
        if ORDERS[oid]["tracking"] and ORDERS[oid]["status"] == "shipped":
            steps.append(use(("track_shipment", {"tracking_number": ORDERS[oid]["tracking"]})))
    steps.append(use(("check_stock", {"sku": "SKU-KETTLE-2L"})))
    steps.append(say("A-1017, A-5120 and A-7342 are in transit; A-2290 and A-4411 were delivered; A-6008 was "
                     "cancelled. The 2 L kettle is in stock (14 units)."))
    return ask(orders_agent(gpt(*steps)), "Status of all my orders: " + ", ".join(ids) + "? And is the 2L kettle in stock?")


@scenario("none", "none", False)
def research_long_survey() -> Any:
    queries = ["perovskite stability", "perovskite encapsulation", "tin perovskite", "sodium solid-state electrolyte",
               "sodium hard carbon anode", "perovskite tandem efficiency record", "sodium-ion cost per kWh"]
    steps: list[Any] = [use(("web_search", {"query": q, "max_results": 2})) for q in queries]
    steps += [use(("fetch_paper", {"doi": d})) for d in ["10.1038/s41560-023-01234-5", "10.1038/s41586-024-07012-3",
                                                           "10.1021/acsenergylett.3c02210"]]
    steps.append(say("Survey: perovskite lifetime is limited by encapsulation and Sn oxidation; sodium-ion progress "
                     "rests on hard-carbon anodes and halide solid electrolytes (5 sources)."))
    return ask(researcher(gpt(*steps)), "Survey the 2023-24 literature on perovskite PV and sodium-ion storage.")


@scenario("none", "none", False)
def support_faq_direct_answer() -> Any:
    return ask(support_desk(gpt(say("We ship within 1-2 working days; standard delivery takes 3-5 days.")), gpt(), gpt()),
               "How long does shipping usually take?")


@scenario("none", "none", False)
def research_structured_plan_fanout() -> Any:
    return research_pipeline(
        gpt(plan_reply("perovskite PV durability", "perovskite stability", "perovskite encapsulation", "tin perovskite")),
        gpt(say("Three routes to durable perovskite PV: encapsulation, tin chemistry and module design.")),
    ).invoke({"topic": "perovskite PV durability", "audience": "investors"})


@scenario("none", "none", False)
def support_ticket_pipeline_ok() -> Any:
    return ticket_pipeline(
        gpt(ticket_json("order_status", "A-5120")),
        gpt(say("Your order A-5120 shipped with USPS and is on its way.")),
    ).invoke({"message": "Has A-5120 shipped yet?"})


@scenario("none", "none", False)
def support_swarm_single_handoff() -> Any:
    orders = orders_agent(gpt(use(("lookup_order", {"order_id": "A-4411"})),
                              use(("transfer_to_billing_agent", {}))),
                          create_handoff_tool(agent_name="billing_agent"))
    billing = billing_agent(gpt(use(("issue_refund", {"order_id": "A-4411", "amount": 24.99, "reason": "arrived broken"})),
                                say("Refunded 24.99 EUR for A-4411 (arrived broken).")),
                            create_handoff_tool(agent_name="orders_agent"))
    return ask(create_swarm([orders, billing], default_active_agent="orders_agent").compile(),
               "My order A-4411 arrived broken, I'd like a refund.")


@scenario("none", "none", False)
def research_no_results_handled() -> Any:
    return ask(researcher(gpt(use(("web_search", {"query": "graphene supercapacitor 2031 field trial"})),
                              say("I found no published field trials of graphene supercapacitors for 2031; "
                                  "the literature stops at lab-scale cells."))),
               "Any 2031 field trials of graphene supercapacitors?")


@scenario("none", "none", False)
def support_parallel_tool_calls() -> Any:
    return ask(orders_agent(gpt(
        Reply(calls=(("lookup_order", {"order_id": "A-1017"}), ("lookup_order", {"order_id": "A-5120"}),
                     ("check_stock", {"sku": "SKU-GRINDER-PRO"}))),
        say("A-1017 and A-5120 are both in transit; the Grinder Pro has 3 units left."))),
               "Where are A-1017 and A-5120, and is the Grinder Pro in stock?")


@scenario("none", "none", False)
def research_overloaded_retried_with_backoff() -> Any:
    model = claude(Raise(anthropic_overloaded), say("Solid-state sodium cells with halide electrolytes reach 99.9% coulombic efficiency."))
    chain = ChatPromptTemplate.from_messages([("system", WRITER_PROMPT), ("human", "{request}")]) | model.with_retry(
        retry_if_exception_type=(anthropic.InternalServerError, anthropic.RateLimitError),
        exponential_jitter_params=BACKOFF, stop_after_attempt=4) | StrOutputParser()

    def write(state: ResearchState) -> dict[str, Any]:
        return {"draft": chain.invoke({"request": f"Summarise: {state['topic']}"})}

    g = StateGraph(ResearchState)
    g.add_node("write", write)
    g.add_edge(START, "write")
    return g.compile(name="summary_writer").invoke({"topic": "halide electrolytes for sodium batteries"})


@scenario("none", "none", False)
def support_delegate_two_workers() -> Any:
    return ask(support_desk(
        gpt(use(handoff("billing_agent")), use(handoff("orders_agent")),
            say("Invoice INV-88123 is 129.00 EUR for order A-2290, which was delivered by DHL.")),
        gpt(use(("lookup_order", {"order_id": "A-2290"})), say("A-2290 was delivered by DHL.")),
        gpt(use(("get_invoice", {"invoice_id": "INV-88123"})), say("INV-88123: 129.00 EUR, order A-2290.")),
    ), "What does invoice INV-88123 cover and was that order delivered?")


@scenario("none", "none", False)
def research_swarm_single_handoff() -> Any:
    res = researcher(gpt(use(("web_search", {"query": "sodium solid electrolyte"})), use(("transfer_to_writer", {}))),
                     create_handoff_tool(agent_name="writer"))
    wri = writer(gpt(use(("format_citation", {"doi": "10.1038/s41586-024-07012-3", "style": "ieee"})),
                     say("Halide solid electrolytes enable solid-state sodium cells [1].")),
                 create_handoff_tool(agent_name="researcher"))
    return ask(create_swarm([res, wri], default_active_agent="researcher").compile(),
               "One cited sentence on solid electrolytes for sodium batteries.")


# ---- handoff ---------------------------------------------------------------------------------

@scenario("handoff", "output_parse_error", True, raises="OutputParserException")
def support_ticket_parser_got_prose() -> Any:
    return ticket_pipeline(
        gpt(say("Sure! Here is the ticket classification: the customer wants a refund for A-2290, priority high.")),
        gpt(),
    ).invoke({"message": "I want a refund for A-2290, it broke after a week."})


def query_planner(model: Any) -> Any:
    """plan_queries (prompt | model | JsonOutputParser) -> search each query."""
    chain = ChatPromptTemplate.from_messages([
        ("system", 'Return JSON {{"topic": str, "queries": [str], "depth": "shallow"|"deep"}} for the request.'),
        ("human", "{topic}")]) | model | JsonOutputParser()

    def plan_queries(state: ResearchState) -> dict[str, Any]:
        return {"plan": chain.invoke({"topic": state["topic"]})}

    def search(state: ResearchState) -> dict[str, Any]:
        return {"findings": [web_search.invoke({"query": q}) for q in state["plan"]["queries"]]}

    g = StateGraph(ResearchState)
    g.add_node("plan_queries", plan_queries)
    g.add_node("search", search)
    g.add_edge(START, "plan_queries")
    g.add_edge("plan_queries", "search")
    return g.compile(name="query_planner")


@scenario("handoff", "output_parse_error", True, raises="OutputParserException")
def research_query_plan_invalid_json() -> Any:
    return query_planner(gpt(say('{"topic": "sodium-ion anodes", "queries": ["sodium hard carbon", "sodium tin anode"], '
                                 '"depth": deep}'))).invoke({"topic": "sodium-ion anodes"})


@scenario("handoff", "output_parse_error", True, raises="OutputParserException")
def research_summary_parse_retries_exceeded() -> Any:
    parser = PydanticOutputParser(pydantic_object=PaperSummary)
    chain = (ChatPromptTemplate.from_messages([("system", "Summarise the paper.\n{format_instructions}"), ("human", "{paper}")])
             .partial(format_instructions=parser.get_format_instructions()) | claude(
                 say("Here's a summary of the paper: tin perovskites oxidise quickly; the authors add a reducing agent."),
                 say("Summary: The paper shows suppressed Sn2+ oxidation. Sources: 10.1126/science.adf5872")) | parser
             ).with_retry(retry_if_exception_type=(OutputParserException,), wait_exponential_jitter=False, stop_after_attempt=2)

    def summarise(state: ResearchState) -> dict[str, Any]:
        return {"summary": chain.invoke({"paper": fetch_paper.invoke({"doi": "10.1126/science.adf5872"})}).summary}

    g = StateGraph(ResearchState)
    g.add_node("summarise", summarise)
    g.add_edge(START, "summarise")
    return g.compile(name="paper_summariser").invoke({"topic": "tin perovskites"})


@scenario("handoff", "schema_mismatch", True, raises="ValidationError")
def support_refund_decision_missing_amount() -> Any:
    return ticket_pipeline(
        gpt(ticket_json("refund", "A-4411", "high")),
        gpt(),
        refund_model=gpt(use(("RefundDecision", {"order_id": "A-4411", "reason": "arrived broken"}))),
    ).invoke({"message": "A-4411 arrived broken, please refund me."})


@scenario("handoff", "schema_mismatch", True, raises="OutputParserException")
def research_plan_parser_wrong_type() -> Any:
    parser = PydanticOutputParser(pydantic_object=ResearchPlan)
    chain = ChatPromptTemplate.from_messages([("system", "Plan a literature review.\n{format_instructions}"),
                                              ("human", "{topic}")]).partial(
        format_instructions=parser.get_format_instructions()) | gpt(say(json.dumps(
            {"topic": "perovskite tandems", "queries": ["perovskite tandem efficiency record"], "max_sources": "a dozen"}))) | parser

    def plan(state: ResearchState) -> dict[str, Any]:
        return {"plan": chain.invoke({"topic": state["topic"]}).model_dump()}

    g = StateGraph(ResearchState)
    g.add_node("plan", plan)
    g.add_node("gather", lambda s: {"findings": [web_search.invoke({"query": q}) for q in s["plan"]["queries"]]})
    g.add_edge(START, "plan")
    g.add_edge("plan", "gather")
    return g.compile(name="review_planner").invoke({"topic": "perovskite-silicon tandems"})


class EscalationState(BaseModel):
    """State of the escalation desk: a pydantic model, validated by LangGraph between nodes."""

    message: str
    priority: Literal["low", "normal", "high"] = "normal"
    assignee: str = ""
    reply: str = ""


@scenario("handoff", "schema_mismatch", True, raises="ValidationError")
def support_escalation_state_rejects_priority() -> Any:
    chain = ChatPromptTemplate.from_messages([("system", 'Rate urgency. Reply JSON {{"priority": "low"|"normal"|"high"}}.'),
                                              ("human", "{message}")]) | gpt(say('{"priority": "urgent"}')) | JsonOutputParser()

    def rate(state: EscalationState) -> dict[str, Any]:
        return chain.invoke({"message": state.message})

    def assign(state: EscalationState) -> dict[str, Any]:
        return {"assignee": "tier2" if state.priority == "high" else "tier1"}

    g = StateGraph(EscalationState)
    g.add_node("rate", rate)
    g.add_node("assign", assign)
    g.add_edge(START, "rate")
    g.add_edge("rate", "assign")
    return g.compile(name="escalation_desk").invoke({"message": "My grinder sparks when I switch it on!"})


@scenario("handoff", "invalid_tool_args", False)
def support_refund_args_fixed() -> Any:
    return ask(support_desk(
        gpt(use(handoff("billing_agent")), say("Done: 24.99 EUR refunded for A-4411.")),
        gpt(),
        gpt(use(("issue_refund", {"order": "A-4411", "amount": "full"})),
            use(("issue_refund", {"order_id": "A-4411", "amount": 24.99, "reason": "arrived broken"})),
            say("Refunded 24.99 EUR for A-4411.")),
    ), "A-4411 arrived broken, refund please.")


@scenario("handoff", "invalid_tool_args", False)
def research_citation_style_args_fixed() -> Any:
    doi = "10.1021/acsenergylett.3c02210"
    return ask(writer(gpt(use(("format_citation", {"doi": doi, "style": "nature"})),
                          use(("format_citation", {"doi": doi, "style": "apa"})),
                          say("Hard-carbon anodes remain the default for sodium-ion cells (Novak et al., 2023)."))),
               "Write one cited sentence on hard-carbon anodes, Nature style if you can.")


@scenario("handoff", "invalid_tool_args", True, raises="ToolInvocationError")
def support_tracking_args_strict_toolnode() -> Any:
    return ask(react_graph(gpt(use(("track_shipment", {"tracking": "1Z999AA10123456785", "carrier": "UPS"}))),
                           [lookup_order, track_shipment], handle_tool_errors=False, name="tracking_bot"),
               "Where is parcel 1Z999AA10123456785?")


# ---- state -----------------------------------------------------------------------------------

@scenario("state", "context_overflow", True, raises="BadRequestError")
def support_orders_history_overflow() -> Any:
    return ask(orders_agent(gpt(use(("lookup_order", {"order_id": "A-7342"})),
                                use(("track_shipment", {"tracking_number": "1Z999AA10123456785"})),
                                Raise(lambda: openai_context_overflow(131207)))),
               "Full history of A-7342 please: " + "I also attach my previous 40 emails. " * 30)


@scenario("state", "context_overflow", True, raises="BadRequestError")
def research_writer_prompt_too_long() -> Any:
    return ask(research_team(
        gpt(use(handoff("researcher")), use(handoff("writer"))),
        gpt(use(("fetch_paper", {"doi": "10.1038/s41586-024-07012-3"})), say("Full text of Okafor et al. attached. " * 40)),
        claude(Raise(lambda: anthropic_prompt_too_long(214877))),
    ), "Write up Okafor et al. 2024 in full detail.")


@scenario("state", "context_overflow", True, raises="BadRequestError")
def research_overflow_retried_pointlessly() -> Any:
    model = gpt(Raise(lambda: openai_context_overflow(140312)), repeat_last=True)
    chain = ChatPromptTemplate.from_messages([("system", WRITER_PROMPT), ("human", "{papers}")]) | model.with_retry(
        exponential_jitter_params={"initial": 0.05, "max": 0.1, "jitter": 0.02}, stop_after_attempt=3) | StrOutputParser()

    def digest(state: ResearchState) -> dict[str, Any]:
        papers = [fetch_paper.invoke({"doi": d}) for d in PAPERS]
        return {"summary": chain.invoke({"papers": "\n\n".join(papers * 20)})}

    g = StateGraph(ResearchState)
    g.add_node("digest", digest)
    g.add_edge(START, "digest")
    return g.compile(name="digest_writer").invoke({"topic": "everything we have"})


@scenario("state", "lost_state", True, raises="KeyError")
def support_ticket_order_id_never_written() -> Any:
    return ticket_pipeline(gpt(ticket_json("order_status", "A-1017")), gpt(), lost_key=True).invoke(
        {"message": "Where is A-1017?"})


@scenario("state", "lost_state", True, raises="KeyError")
def research_prompt_missing_audience() -> Any:
    return research_pipeline(gpt(plan_reply("sodium-ion cost", "sodium hard carbon anode")), gpt()).invoke(
        {"topic": "sodium-ion cost outlook"})


@scenario("state", "lost_state", True, raises="InvalidUpdateError")
def research_parallel_summaries_same_key() -> Any:
    return research_pipeline(gpt(plan_reply("perovskite", "perovskite stability")), gpt(), parallel_summaries=True).invoke(
        {"topic": "perovskite stability", "audience": "students"})


@scenario("state", "redundant_work", False)
def support_lookup_repeated() -> Any:
    return ask(orders_agent(gpt(use(("lookup_order", {"order_id": "A-7342"})),
                                use(("track_shipment", {"tracking_number": "1Z999AA10123456785"})),
                                use(("lookup_order", {"order_id": "A-7342"})),
                                say("A-7342 is in transit with UPS and should arrive in 2-4 days."))),
               "When will A-7342 arrive?")


@scenario("state", "redundant_work", False)
def research_search_repeated() -> Any:
    q = "sodium hard carbon anode"
    return ask(researcher(gpt(use(("web_search", {"query": q})),
                              use(("fetch_paper", {"doi": "10.1021/acsenergylett.3c02210"})),
                              use(("web_search", {"query": q})),
                              say("Novak et al. (2023) is the key hard-carbon anode paper."))),
               "Key paper on hard-carbon anodes?")


@scenario("state", "redundant_work", False)
def research_team_same_search_twice() -> Any:
    q = "tin perovskite oxidation"
    return ask(research_team(
        gpt(use(handoff("researcher")), use(handoff("researcher")),
            say("Zhang et al. (2024) suppress Sn2+ oxidation in tin perovskites.")),
        gpt(use(("web_search", {"query": q, "max_results": 3})), say("Found Zhang et al. 2024."),
            use(("web_search", {"query": q, "max_results": 3})), say("Confirmed: Zhang et al. 2024 (doi:10.1126/science.adf5872).")),
        gpt(),
    ), "Who solved tin perovskite oxidation?")


# ---- routing ---------------------------------------------------------------------------------

@scenario("routing", "loop", True, raises="GraphRecursionError")
def research_search_loop_recursion_limit() -> Any:
    return ask(react_graph(gpt(use(("web_search", {"query": "perovskite lifetime 10000 hours"})), repeat_last=True),
                           [web_search, fetch_paper], name="search_bot"),
               "Find a perovskite module with 10000 h lifetime.", recursion_limit=12)


@scenario("routing", "loop", True, raises="GraphRecursionError")
def research_critic_never_approves() -> Any:
    return review_loop(
        claude(say("Draft: sodium-ion is promising."), repeat_last=True),
        claude(say("REVISE: too vague, add numbers."), repeat_last=True),
        max_revisions=None, name="report_review",
    ).invoke({"request": "Executive summary on sodium-ion."}, {"recursion_limit": 10})


@scenario("routing", "loop", True)
def support_tracking_loop_need_more_steps() -> Any:
    return ask(orders_agent(gpt(use(("track_shipment", {"tracking_number": "JD014600006281234567"})), repeat_last=True)),
               "Has my DHL parcel JD014600006281234567 moved?", recursion_limit=10)


@scenario("routing", "loop", True, raises="GraphRecursionError")
def research_fetch_loop_recursion_limit() -> Any:
    return ask(researcher(gpt(use(("fetch_paper", {"doi": "10.1016/j.joule.2024.02.011"})), repeat_last=True)),
               "Read Garcia et al. 2024 until you find the outdoor test duration.", recursion_limit=25)


@scenario("routing", "unknown_tool", False)
def support_unknown_tool_recovered() -> Any:
    return ask(orders_agent(gpt(use(("get_order_status", {"order_id": "A-5120"})),
                                use(("lookup_order", {"order_id": "A-5120"})),
                                say("A-5120 shipped with USPS."))),
               "Status of A-5120?")


@scenario("routing", "unknown_tool", False)
def research_unknown_agent_handoff_recovered() -> Any:
    return ask(research_team(
        gpt(use(handoff("fact_checker")), use(handoff("researcher")),
            say("Checked: Lee et al. 2023 report 1000 h operational stability.")),
        gpt(use(("web_search", {"query": "perovskite stability 1000 h"})), say("Lee et al. 2023 confirm 1000 h.")),
        gpt(),
    ), "Fact-check: perovskite modules last 1000 h?")


class Route(BaseModel):
    """Where the triage router sends the ticket."""

    next: str = Field(description="one of: orders_desk, billing_desk")
    reason: str


def triage_router(model: Any, *, path_map: bool) -> Any:
    router = model.with_structured_output(Route)

    def route(state: TicketState) -> Any:
        r = router.invoke([SystemMessage("Route the ticket to orders_desk or billing_desk."), HumanMessage(state["message"])])
        if path_map:
            return {"notes": [r.next]}
        return Command(goto=r.next, update={"notes": [f"routed to {r.next}: {r.reason}"]})

    def orders_desk(state: TicketState) -> dict[str, Any]:
        return {"reply": lookup_order.invoke({"order_id": "A-6008"})}

    def billing_desk(state: TicketState) -> dict[str, Any]:
        return {"reply": get_invoice.invoke({"invoice_id": "INV-88123"})}

    g = StateGraph(TicketState)
    g.add_node("route", route)
    g.add_node("orders_desk", orders_desk)
    g.add_node("billing_desk", billing_desk)
    g.add_edge(START, "route")
    if path_map:
        g.add_conditional_edges("route", lambda s: s["notes"][-1], {"orders_desk": "orders_desk", "billing_desk": "billing_desk"})
    g.add_edge("orders_desk", END)
    g.add_edge("billing_desk", END)
    return g.compile(name="triage_router")


@scenario("routing", "unknown_tool", True)
def support_command_goto_missing_node() -> Any:
    return triage_router(gpt(use(("Route", {"next": "returns_desk", "reason": "customer wants to return A-6008"}))),
                         path_map=False).invoke({"message": "How do I return order A-6008?"})


@scenario("routing", "unknown_tool", True, raises="KeyError")
def research_route_not_in_path_map() -> Any:
    def route(state: ResearchState) -> dict[str, Any]:
        r = gpt(use(("Route", {"next": "statistician", "reason": "needs a meta-analysis"}))).with_structured_output(Route).invoke(
            [SystemMessage("Route to researcher or writer."), HumanMessage(state["topic"])])
        return {"plan": {"next": r.next}}

    g = StateGraph(ResearchState)
    g.add_node("route", route)
    g.add_node("researcher", lambda s: {"findings": [web_search.invoke({"query": s["topic"]})]})
    g.add_node("writer", lambda s: {"draft": "n/a"})
    g.add_edge(START, "route")
    g.add_conditional_edges("route", lambda s: s["plan"]["next"], {"researcher": "researcher", "writer": "writer"})
    return g.compile(name="research_router").invoke({"topic": "meta-analysis of perovskite lifetimes"})


def support_swarm(orders_steps: list[Any], billing_steps: list[Any], repeat: bool = False) -> Any:
    orders = orders_agent(gpt(*orders_steps, repeat_last=repeat), create_handoff_tool(agent_name="billing_agent"))
    billing = billing_agent(gpt(*billing_steps, repeat_last=repeat), create_handoff_tool(agent_name="orders_agent"))
    return create_swarm([orders, billing], default_active_agent="orders_agent").compile()


@scenario("routing", "ping_pong", False)
def support_swarm_ping_pong() -> Any:
    to_billing, to_orders = ("transfer_to_billing_agent", {}), ("transfer_to_orders_agent", {})
    return ask(support_swarm(
        [use(("lookup_order", {"order_id": "A-2290"})), use(to_billing), use(to_billing), use(to_billing)],
        [use(to_orders), use(to_orders), say("A-2290 is outside the 30-day window; I can offer store credit.")],
    ), "A-2290 was delivered late, can I get money back?")


@scenario("routing", "ping_pong", False)
def research_swarm_ping_pong() -> Any:
    to_writer, to_researcher = ("transfer_to_writer", {}), ("transfer_to_researcher", {})
    res = researcher(gpt(use(("web_search", {"query": "sodium solid electrolyte"})), use(to_writer), use(to_writer), use(to_writer)),
                     create_handoff_tool(agent_name="writer"))
    wri = writer(gpt(use(to_researcher), use(to_researcher), say("Halide electrolytes enable solid-state sodium cells (Okafor et al., 2024).")),
                 create_handoff_tool(agent_name="researcher"))
    return ask(create_swarm([res, wri], default_active_agent="researcher").compile(),
               "One cited sentence on solid electrolytes for sodium batteries.")


@scenario("routing", "ping_pong", True, raises="GraphRecursionError")
def support_swarm_ping_pong_recursion_limit() -> Any:
    return ask(support_swarm([use(("transfer_to_billing_agent", {}))], [use(("transfer_to_orders_agent", {}))], repeat=True),
               "Who handles a damaged parcel refund for A-7342?", recursion_limit=10)


# ---- recovery --------------------------------------------------------------------------------

def retrying_billing(model: ScriptedChatModel, *, backoff: bool) -> Any:
    tools = [issue_refund, get_invoice]
    retry = {"exponential_jitter_params": BACKOFF} if backoff else {"wait_exponential_jitter": False}
    bound = model.bind_tools(tools).with_retry(retry_if_exception_type=(openai.RateLimitError, openai.APITimeoutError),
                                               stop_after_attempt=3, **retry)
    return create_react_agent(bound, tools, prompt=BILLING_PROMPT, name="billing_agent")


@scenario("recovery", "retries_exhausted", True, raises="RateLimitError")
def support_rate_limit_retries_exhausted() -> Any:
    return ask(retrying_billing(gpt(Raise(openai_rate_limit), repeat_last=True), backoff=True), "Refund A-4411 please.")


@scenario("recovery", "retries_exhausted", True, raises="ConnectError",
          faults={"web_search": [lambda: connect_error("search.internal:8080")] * 3})
def research_gather_retry_policy_exhausted() -> Any:
    return research_pipeline(
        gpt(plan_reply("perovskite", "perovskite encapsulation")), gpt(),
        gather_retry=RetryPolicy(initial_interval=0.2, backoff_factor=1.5, max_attempts=3, jitter=False,
                                 retry_on=(httpx.TransportError,)),
    ).invoke({"topic": "perovskite encapsulation", "audience": "engineers"})


@scenario("recovery", "retries_exhausted", True, raises="ReadTimeout",
          faults={"fetch_paper": [lambda: read_timeout("papers.internal:9000")] * 3})
def research_fetch_with_retry_exhausted() -> Any:
    fetch = fetch_paper.with_retry(retry_if_exception_type=(httpx.TimeoutException,), exponential_jitter_params=BACKOFF,
                                   stop_after_attempt=3)
    return research_pipeline(gpt(plan_reply("sodium", "sodium hard carbon anode")), gpt(), fetch=fetch).invoke(
        {"topic": "sodium anodes", "audience": "engineers"})


@scenario("recovery", "no_retry", True, raises="APITimeoutError")
def support_model_timeout_not_retried() -> Any:
    return ask(orders_agent(gpt(use(("lookup_order", {"order_id": "A-1017"})), Raise(openai_timeout))),
               "Where is A-1017?")


@scenario("recovery", "no_retry", True, raises="ConnectError",
          faults={"web_search": [lambda: connect_error("search.internal:8080")]})
def research_search_connect_error_not_retried() -> Any:
    return ask(researcher(gpt(use(("web_search", {"query": "perovskite tandem record efficiency"})))),
               "Current perovskite-silicon tandem record?")


@scenario("recovery", "no_retry", True, raises="InternalServerError")
def support_billing_server_error_not_retried() -> Any:
    return ask(support_desk(gpt(use(handoff("billing_agent"))), gpt(),
                            gpt(use(("get_invoice", {"invoice_id": "INV-88123"})), Raise(openai_server_error))),
               "Send me invoice INV-88123.")


@scenario("recovery", "no_retry", True, raises="RateLimitError")
def research_writer_rate_limited_not_retried() -> Any:
    return ask(writer(claude(Raise(anthropic_rate_limit))), "Cite Lee et al. 2023 in APA.")


@scenario("recovery", "no_backoff", False)
def support_rate_limit_immediate_retry() -> Any:
    return ask(retrying_billing(gpt(Raise(openai_rate_limit), use(("get_invoice", {"invoice_id": "INV-88123"})),
                                    say("INV-88123 is 129.00 EUR incl. 21.50 EUR VAT.")), backoff=False),
               "How much VAT is on INV-88123?")


@scenario("recovery", "no_backoff", False, faults={"web_search": [lambda: connect_error("search.internal:8080")]})
def research_gather_retry_policy_no_wait() -> Any:
    return research_pipeline(
        gpt(plan_reply("sodium", "sodium solid electrolyte")),
        gpt(say("Halide solid electrolytes are the leading option (Okafor et al., 2024).")),
        gather_retry=RetryPolicy(initial_interval=0.0, backoff_factor=1.0, max_attempts=3, jitter=False,
                                 retry_on=(httpx.TransportError,)),
    ).invoke({"topic": "sodium solid electrolytes", "audience": "engineers"})


@scenario("recovery", "no_backoff", False, faults={"fetch_paper": [lambda: read_timeout("papers.internal:9000")]})
def research_fetch_immediate_retry() -> Any:
    fetch = fetch_paper.with_retry(retry_if_exception_type=(httpx.TimeoutException,), wait_exponential_jitter=False,
                                   stop_after_attempt=3)
    return research_pipeline(gpt(plan_reply("perovskite", "tin perovskite")),
                             gpt(say("Tin perovskites: oxidation suppressed by Zhang et al. (2024).")), fetch=fetch).invoke(
        {"topic": "tin perovskites", "audience": "students"})


@scenario("recovery", "silent_failure", True, faults={"check_stock": [lambda: connect_error("inventory.internal:7001")]})
def support_stock_error_swallowed() -> Any:
    model = gpt(say("Good news: the mug set is in stock and ships tomorrow."))

    def check(state: TicketState) -> dict[str, Any]:
        try:
            stock = check_stock.invoke({"sku": "SKU-MUG-SET"})
        except Exception:
            stock = "SKU-MUG-SET: assume available"
        return {"notes": [stock]}

    def respond(state: TicketState) -> dict[str, Any]:
        return {"reply": model.invoke([SystemMessage("Answer using: " + "; ".join(state["notes"])),
                                       HumanMessage(state["message"])]).content}

    g = StateGraph(TicketState)
    g.add_node("check", check)
    g.add_node("respond", respond)
    g.add_edge(START, "check")
    g.add_edge("check", "respond")
    return g.compile(name="stock_answer").invoke({"message": "Is the mug set in stock?"})


@scenario("recovery", "silent_failure", True,
          faults={"fetch_paper": [lambda: connect_error("papers.internal:9000"), lambda: connect_error("papers.internal:9000")]})
def research_fetch_errors_swallowed() -> Any:
    return research_pipeline(gpt(plan_reply("sodium", "sodium")),
                             gpt(say("Sodium-ion research is progressing quickly on all fronts.")),
                             swallow_fetch_errors=True).invoke({"topic": "sodium-ion progress", "audience": "investors"})


@scenario("recovery", "silent_failure", True,
          faults={"issue_refund": [lambda: bad_gateway("https://payments.internal/v2/refunds")]})
def support_refund_error_ignored_by_model() -> Any:
    return ask(react_graph(gpt(use(("issue_refund", {"order_id": "A-1017", "amount": 59.9, "reason": "late delivery"})),
                               say("Your refund of 59.90 EUR for A-1017 has been issued.")),
                           [issue_refund, lookup_order], handle_tool_errors=True, name="refund_bot"),
               "Refund A-1017, it came late.")


@scenario("recovery", "unhandled_error", True, raises="ZeroDivisionError")
def support_rating_zero_division() -> Any:
    return ask(orders_agent(gpt(use(("average_rating", {"sku": "SKU-GRINDER-PRO"}))), average_rating),
               "How well rated is the Grinder Pro?")


@scenario("recovery", "unhandled_error", True, raises="CitationStyleError")
def research_citation_style_error() -> Any:
    return ask(create_agent(gpt(use(("format_citation_any", {"doi": "10.1038/s41560-023-01234-5", "style": "nature-x"}))),
                            [format_citation_any], system_prompt=WRITER_PROMPT, name="writer"),
               "Cite Lee et al. 2023 in Nature style.")


@scenario("recovery", "unhandled_error", True, raises="FraudHoldError")
def support_refund_fraud_hold() -> Any:
    return ask(support_desk(gpt(use(handoff("billing_agent"))), gpt(),
                            gpt(use(("issue_refund", {"order_id": "A-3304", "amount": 412.5, "reason": "not needed"})))),
               "Cancel and refund A-3304.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", help="run only scenarios whose name contains this (for debugging)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each scenario as it runs")
    args = parser.parse_args()
    corpus = Corpus(framework="langgraph", service="langgraph-agents")
    LangChainInstrumentor().instrument(tracer_provider=corpus.provider)
    for name, layer, mode, failed, run in SCENARIOS:
        if args.only and args.only not in name:
            continue
        if args.verbose:
            print(name, file=sys.stderr, flush=True)
        corpus.record(name, layer, mode, failed, run)
    corpus.write(args.out)
    if PROBLEMS:
        print("scenarios that did not run as scripted:\n" + "\n".join(PROBLEMS), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
