"""Corpus of real PydanticAI runs, traced by PydanticAI's own OpenTelemetry instrumentation.

    /work/venvs/pydantic_ai/bin/python tests/frameworks/pydantic_ai/generate.py --out tests/frameworks/corpus

Two small multi-agent apps, each run offline through many scenarios:

* **Support desk** (``triage_agent``, ``billing_agent``, ``shipping_agent``, ``refund_agent``, ``email_agent``):
  tools ``lookup_order``, ``get_tracking``, ``issue_refund``, ``check_refund_policy``, ``check_stock``,
  ``file_refund``, ``customer_profile``, ``send_confirmation``; hand-offs as output functions
  (``transfer_to_billing`` ends triage's run by running billing) and delegation tools.
* **Research assistant** (``editor_agent`` orchestrating ``research_agent``, ``summarizer_agent``,
  ``writer_agent``, ``critic_agent``, ``fact_checker_agent``): tools ``search_papers``, ``fetch_abstract``,
  ``fetch_fulltext``, ``summarize``, ``write_draft``, ``critique_draft``, ``citation_rate``; a programmatic
  hand-off inside ``draft_report`` (the app runs research_agent, then writer_agent on its output).

Models are ``FunctionModel`` scripts (the framework's own test extension point) or the real
``OpenAIChatModel`` over an ``openai.AsyncOpenAI`` client whose ``httpx2.MockTransport`` is an in-process fake
OpenAI server answering completions, 429 / 500 / 503 bodies and 400 ``context_length_exceeded``; every failure
comes out of PydanticAI's own code path: output validation and its retry prompts, tool argument validation,
``ModelRetry``, unknown tool names, ``UsageLimits``, ``UnexpectedModelBehavior`` when retries run out, the
OpenAI error mapping (``ModelRateLimitError``, ``ModelContextWindowExceededError``, ``ModelTimeoutError``),
the ``RetryModelRequest`` / ``ModelFallback`` capabilities, the openai SDK's ``max_retries`` and
``pydantic_ai.retries.AsyncHTTPX2TenacityTransport``. Spans are written only by
``InstrumentationSettings(version=6)`` (``invoke_agent``, ``chat``, ``execute_tool``,
``model request attempt``), never by this script.

Scenarios per mode (support / research): output_parse_error 4, schema_mismatch 3, invalid_tool_args 3,
context_overflow 3, lost_state 3, redundant_work 3, loop 3, unknown_tool 3, ping_pong 3, retries_exhausted 4,
no_retry 4, no_backoff 3, silent_failure 4, unhandled_error 3; clean runs 24 (back-off retries that succeed,
hand-offs, delegation, a revision round, tool refusals read and answered, recovered in-band retries, long runs).

Labelling choices: an in-band error the model corrected (one output/argument/unknown-tool retry, then success)
is a clean run: that is the framework's remedy working. Output retries exhausted on invalid JSON or prose is
``output_parse_error``; exhausted on JSON that parsed but failed the schema (``missing``, wrong type) is
``schema_mismatch``. ``retries_exhausted_tenacity_transport`` and ``clean_retry_backoff_sdk`` /
``clean_retry_backoff_tenacity`` retry inside the HTTP client: their retries leave no span (one ``chat`` span),
which is what these transports really export.

What PydanticAI cannot produce as such: nothing in the table is out of reach, but ping-pong needs the app to
wire agents to each other (output functions / delegation tools; there is no built-in router), a programmatic
hand-off between two top-level runs would be two traces (there is no workflow span), so it runs inside a tool,
and HTTP-level retries (SDK ``max_retries``, tenacity transports) are invisible in the spans.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Offline: no Logfire, no price updates, no provider keys from the environment.
os.environ["LOGFIRE_SEND_TO_LOGFIRE"] = "false"
os.environ["LOGFIRE_IGNORE_NO_CONFIG"] = "1"
os.environ["OPENAI_API_KEY"] = "sk-offline-corpus"
os.environ.pop("OPENAI_BASE_URL", None)
os.environ["OTEL_TRACES_EXPORTER"] = "none"
os.environ["OTEL_METRICS_EXPORTER"] = "none"
os.environ["OTEL_LOGS_EXPORTER"] = "none"

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

import httpx
import httpx2
from corpus_kit import Corpus
from openai import AsyncOpenAI
from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry, RetryModelRequest, RunContext
from pydantic_ai.capabilities import AbstractCapability, ModelFallback
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.output import NativeOutput, PromptedOutput, ToolOutput
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.retries import AsyncHTTPX2TenacityTransport, RetryConfig
from pydantic_ai.usage import UsageLimits
from tenacity import retry_if_exception_type, stop_after_attempt, wait_fixed

warnings.filterwarnings("ignore")
FRAMEWORK = "pydantic_ai"
SUPPORT_MODEL = "gpt-4o-mini"
RESEARCH_MODEL = "gpt-4.1"

# --------------------------------------------------------------------------------------------------------------
# Scripted models
# --------------------------------------------------------------------------------------------------------------

Step = ModelResponse | Exception | Callable[[list[ModelMessage], AgentInfo], ModelResponse]


def call(tool: str, args: dict[str, Any] | str | None = None) -> ModelResponse:
    """One tool call (args as a dict, or a raw JSON string exactly as a model might emit it)."""
    return ModelResponse(parts=[ToolCallPart(tool, {} if args is None else args)])


def calls(*pairs: tuple[str, dict[str, Any]]) -> ModelResponse:
    """Parallel tool calls in one response."""
    return ModelResponse(parts=[ToolCallPart(t, a) for t, a in pairs])


def say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def scripted(steps: list[Step], model_name: str = SUPPORT_MODEL) -> FunctionModel:
    """A model that answers each request with the next step (raising it when it is an exception)."""
    queue = list(steps)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not queue:
            raise ScriptExhausted(f"script for {model_name} ran out after {len(steps)} steps")
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step(messages, info) if callable(step) else step

    return FunctionModel(respond, model_name=model_name)


def repeating(step: Callable[[int], ModelResponse], model_name: str = SUPPORT_MODEL) -> FunctionModel:
    """A model that answers request n (0-based, across every run of the agent) with ``step(n)``."""
    count = {"n": 0}

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        n = count["n"]
        count["n"] += 1
        return step(n)

    return FunctionModel(respond, model_name=model_name)


def http_error(status: int, model: str, message: str, type_: str, code: str | None) -> ModelHTTPError:
    """PydanticAI's own provider error wrapper, as a model adapter raises it for an HTTP error body."""
    return ModelHTTPError(status, model, {"message": message, "type": type_, "param": None, "code": code},
                          provider_error_code=code, provider_error_type=type_)


# --------------------------------------------------------------------------------------------------------------
# In-process fake OpenAI server for the real OpenAIChatModel
# --------------------------------------------------------------------------------------------------------------

RATE_LIMIT_MSG = ("Rate limit reached for {model} in organization org-corpus on requests per min (RPM): "
                  "Limit 500, Used 500, Requested 1. Please try again in 240ms. Visit "
                  "https://platform.openai.com/account/rate-limits to learn more.")
SERVER_ERROR_MSG = "The server had an error while processing your request. Sorry about that!"
OVERLOADED_MSG = "The server is overloaded or not ready yet."
CONTEXT_MSG = ("This model's maximum context length is 128000 tokens. However, your messages resulted in "
               "{n} tokens. Please reduce the length of the messages.")


def completion(model: str, content: str | None = None,
               tool_calls: list[tuple[str, dict[str, Any]]] | None = None) -> Callable[[httpx2.Request], httpx2.Response]:
    def respond(request: httpx2.Request) -> httpx2.Response:
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{abs(hash((n, json.dumps(a)))) % 10**8:08d}{i}", "type": "function",
                 "function": {"name": n, "arguments": json.dumps(a)}} for i, (n, a) in enumerate(tool_calls)]
        body = {"id": "chatcmpl-corpus", "object": "chat.completion", "created": 1767225600,
                "model": f"{model}-2024-07-18" if model == "gpt-4o-mini" else model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls" if tool_calls else "stop"}],
                "usage": {"prompt_tokens": 180 + len(request.content) // 4, "completion_tokens": 42,
                          "total_tokens": 222 + len(request.content) // 4}}
        return httpx2.Response(200, json=body, headers={"x-request-id": "req_corpus"})
    return respond


def api_error(status: int, message: str, type_: str, code: str | None,
              headers: dict[str, str] | None = None) -> Callable[[httpx2.Request], httpx2.Response]:
    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"error": {"message": message, "type": type_, "param": None, "code": code}},
                               headers={"x-request-id": "req_corpus", **(headers or {})})
    return respond


def read_timeout(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ReadTimeout("The read operation timed out", request=request)


def openai_model(responses: list[Callable[[httpx2.Request], httpx2.Response]], model: str = SUPPORT_MODEL, *,
                 max_retries: int = 0, tenacity: RetryConfig | None = None) -> OpenAIChatModel:
    """The real OpenAIChatModel talking to a scripted in-process OpenAI server."""
    queue = list(responses)

    def handler(request: httpx2.Request) -> httpx2.Response:
        if not queue:
            raise ScriptExhausted("fake OpenAI server has no more responses")
        return queue.pop(0)(request)

    transport: httpx2.AsyncBaseTransport = httpx2.MockTransport(handler)
    if tenacity is not None:
        def validate(response: httpx2.Response) -> None:
            if response.status_code in (429, 500, 502, 503, 504):
                response.raise_for_status()
        transport = AsyncHTTPX2TenacityTransport(config=tenacity, wrapped=transport, validate_response=validate)
    client = AsyncOpenAI(api_key="sk-offline-corpus", base_url="https://api.openai.com/v1", max_retries=max_retries,
                         http_client=httpx2.AsyncClient(transport=transport))
    return OpenAIChatModel(model, provider=OpenAIProvider(openai_client=client))


def backend(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """An in-process fake of an internal service (carrier API, payment gateway, paper index)."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://internal.example")


# --------------------------------------------------------------------------------------------------------------
# Retry capability on the framework's own hook (RetryModelRequest): attempts become spans
# --------------------------------------------------------------------------------------------------------------

@dataclass
class RetryTransientErrors(AbstractCapability[Any]):
    """Retry a model request after a transient provider error, waiting ``wait`` seconds between attempts."""

    attempts: int = 3
    wait: float = 0.0

    async def on_model_request_error(self, ctx: RunContext[Any], *, request_context: Any, error: Exception) -> ModelResponse:
        transient = isinstance(error, ModelAPIError) and getattr(error, "status_code", 503) in (408, 429, 500, 502, 503, 504)
        if transient and request_context.attempt < self.attempts:
            if self.wait:
                await asyncio.sleep(self.wait)
            raise RetryModelRequest()
        raise error


# --------------------------------------------------------------------------------------------------------------
# Domain models and custom errors
# --------------------------------------------------------------------------------------------------------------

class RefundRequest(BaseModel):
    order_id: str
    amount: float
    reason: str


class RefundDecision(BaseModel):
    order_id: str
    approved: bool
    amount: float


class Citation(BaseModel):
    title: str
    year: int


class ResearchFindings(BaseModel):
    topic: str
    key_points: list[str] = Field(min_length=1)
    citations: list[Citation]


class ReportBrief(BaseModel):
    audience: str
    findings: ResearchFindings
    word_limit: int


class ScriptExhausted(BaseException):
    """A scripted model or fake server ran out of answers: a bug of this generator, never a scenario outcome."""


class LedgerLockedError(Exception):
    """The payments ledger refused a write (app-specific error, no known family)."""


class PaywallError(Exception):
    """The publisher returned a paywall page instead of the paper."""


ORDERS = {
    "A-1042": {"status": "delivered", "total": 59.90, "delivered_days_ago": 4, "sku": "KB-200"},
    "A-1043": {"status": "in transit", "total": 24.00, "delivered_days_ago": None, "sku": "MS-10"},
    "A-2210": {"status": "delivered", "total": 129.00, "delivered_days_ago": 47, "sku": "HD-7"},
    "B-0077": {"status": "processing", "total": 12.50, "delivered_days_ago": None, "sku": "CB-1"},
}

PAPERS = {
    "rag": ["P-101 Retrieval-Augmented Generation (2020)", "P-102 Dense Passage Retrieval (2020)"],
    "agents": ["P-201 ReAct (2022)", "P-202 Toolformer (2023)", "P-203 Reflexion (2023)"],
    "evaluation": ["P-301 HELM (2022)", "P-302 G-Eval (2023)"],
}


def order_info(order_id: str) -> str:
    if order_id not in ORDERS:
        raise ModelRetry(f"No order found with id {order_id!r}. Ask the customer to check the order number.")
    o = ORDERS[order_id]
    return f"Order {order_id}: {o['status']}, total ${o['total']:.2f}, item {o['sku']}"


def search(query: str) -> str:
    hits = next((v for k, v in PAPERS.items() if k in query.lower()), ["P-900 Survey of LLM systems (2024)"])
    return "; ".join(hits)


# --------------------------------------------------------------------------------------------------------------
# Agent factories (fresh agents and scripts for every scenario)
# --------------------------------------------------------------------------------------------------------------

def support_agent(name: str, model: Any, *, tools: tuple[str, ...] = ("lookup_order",), **kw: Any) -> Agent[Any, Any]:
    agent: Agent[Any, Any] = Agent(model, name=name, instructions=f"You are the {name.replace('_', ' ')} of the ACME support desk.", **kw)
    if "lookup_order" in tools:
        @agent.tool_plain
        def lookup_order(order_id: str) -> str:
            """Look up an order by its id."""
            return order_info(order_id)
    if "get_tracking" in tools:
        @agent.tool_plain
        def get_tracking(order_id: str) -> str:
            """Carrier tracking for an order."""
            status = ORDERS.get(order_id, {}).get("status", "unknown")
            return f"{order_id}: {status}; last scan Leipzig hub"
    if "check_refund_policy" in tools:
        @agent.tool_plain
        def check_refund_policy(order_id: str) -> str:
            """Whether an order is still inside the 30-day refund window."""
            days = ORDERS[order_id]["delivered_days_ago"]
            return "eligible" if days is None or days <= 30 else f"not eligible: delivered {days} days ago"
    if "check_stock" in tools:
        @agent.tool_plain
        def check_stock(sku: str) -> dict[str, Any]:
            """Stock level for a SKU."""
            if sku == "HD-7":
                return {"sku": sku, "error": "SKU discontinued", "replacement": "HD-8"}
            return {"sku": sku, "in_stock": 14}
    return agent


def research_agent(name: str, model: Any, *, tools: tuple[str, ...] = ("search_papers",), **kw: Any) -> Agent[Any, Any]:
    agent: Agent[Any, Any] = Agent(model, name=name, instructions=f"You are the {name.replace('_', ' ')} of a research assistant.", **kw)
    if "search_papers" in tools:
        @agent.tool_plain
        def search_papers(query: str, max_results: int = 5) -> str:
            """Search the paper index."""
            return search(query)
    if "fetch_abstract" in tools:
        @agent.tool_plain
        def fetch_abstract(paper_id: str) -> str:
            """Fetch a paper's abstract."""
            return f"{paper_id}: We propose a method that improves grounding of language model answers."
    return agent


# --------------------------------------------------------------------------------------------------------------
# Scenarios: handoff layer
# --------------------------------------------------------------------------------------------------------------

def output_parse_truncated_tool_json() -> None:
    """refund_agent's structured output arrives as truncated JSON twice; output retries run out."""
    agent = support_agent("refund_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        call("final_result", '{"order_id": "A-1042", "approved": true, "amount": 59.9'),
        call("final_result", '{"order_id": "A-1042", "approved": true, "amount": '),
    ]), output_type=RefundDecision, retries=1)
    agent.run_sync("Customer asks for a refund of order A-1042, keyboard arrived broken.")


def output_parse_prose_instead_of_json() -> None:
    """summarizer_agent must answer JSON (PromptedOutput) but keeps answering in prose."""
    agent = research_agent("summarizer_agent", scripted([
        call("search_papers", {"query": "agents tool use"}),
        say("Sure! Here is a summary of the findings: ReAct and Toolformer both show that tool use helps."),
        say("Certainly. The key points are that agents benefit from tools and self-reflection."),
    ], RESEARCH_MODEL), output_type=PromptedOutput(ResearchFindings), retries=1)
    agent.run_sync("Summarise the literature on tool-using agents as structured findings.")


def output_parse_native_openai() -> None:
    """research_agent on the real OpenAIChatModel with a JSON-schema response format gets broken JSON twice."""
    model = openai_model([
        completion(RESEARCH_MODEL, '{"topic": "retrieval augmentation", "key_points": ["dense retrieval helps"'),
        completion(RESEARCH_MODEL, 'Here is the JSON you asked for:\n```json\n{"topic": "retrieval augmentation",'),
    ], RESEARCH_MODEL)
    agent = research_agent("research_agent", model, tools=(), output_type=NativeOutput(ResearchFindings), retries=1)
    agent.run_sync("Give me structured findings on retrieval augmentation.")


def output_parse_in_delegated_agent() -> None:
    """triage delegates to refund_agent, whose structured output never parses; the error fails triage's run."""
    refund = support_agent("refund_agent", scripted([
        call("final_result", "{'order_id': 'A-1043', 'approved': False, 'amount': 24.0}"),
        call("final_result", "order_id=A-1043 approved=false amount=24.0"),
    ]), tools=(), output_type=RefundDecision, retries=1)
    triage = support_agent("triage_agent", scripted([call("ask_refund_desk", {"question": "Can A-1043 be refunded?"})]),
                           tools=())

    @triage.tool
    async def ask_refund_desk(ctx: RunContext[Any], question: str) -> str:
        """Ask the refund desk for a decision."""
        return (await refund.run(question, usage=ctx.usage)).output.model_dump_json()

    triage.run_sync("I want my money back for A-1043, it is taking forever.")


def schema_mismatch_output_missing_field() -> None:
    """research_agent's output tool gets valid JSON without the required citations, twice."""
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"query": "evaluation of LLM judges"}),
        call("final_result", {"topic": "LLM-as-judge", "key_points": ["G-Eval correlates with humans"]}),
        call("final_result", {"topic": "LLM-as-judge", "key_points": ["G-Eval correlates with humans"],
                              "citations": [{"title": "G-Eval", "year": "twenty twenty-three"}]}),
    ], RESEARCH_MODEL), output_type=ResearchFindings, retries=1)
    agent.run_sync("Structured findings on LLM-as-judge evaluation, with citations.")


def schema_mismatch_refund_payload() -> None:
    """billing_agent hands a refund payload to the refund service; it parses but misses ``amount`` each time."""
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        call("file_refund", {"payload": '{"order_id": "A-1042", "reason": "damaged on arrival"}'}),
        call("file_refund", {"payload": '{"order_id": "A-1042", "reason": "damaged on arrival", "refund": 59.9}'}),
    ]), retries=1)

    @agent.tool_plain
    def file_refund(payload: str) -> str:
        """File a refund with the payments service (payload: RefundRequest JSON)."""
        request = RefundRequest.model_validate_json(payload)
        return f"refund filed for {request.order_id}"

    agent.run_sync("Refund the damaged keyboard from order A-1042.")


def schema_mismatch_programmatic_handoff() -> None:
    """editor_agent's draft_report runs research_agent then hands its JSON to the writer as a ReportBrief."""
    research = research_agent("research_agent", scripted([
        call("search_papers", {"query": "rag"}),
        say('{"topic": "RAG", "key_points": ["retrieval reduces hallucination"], "citations": [{"title": "RAG"}]}'),
        call("search_papers", {"query": "rag 2020"}),
        say('{"topic": "RAG", "key_points": [], "citations": [{"title": "RAG", "year": "2020s"}]}'),
    ], RESEARCH_MODEL))
    writer = research_agent("writer_agent", scripted([say("unused")], RESEARCH_MODEL), tools=())
    editor = research_agent("editor_agent", scripted([
        call("draft_report", {"topic": "retrieval-augmented generation", "audience": "engineers"}),
        call("draft_report", {"topic": "retrieval-augmented generation (2020 papers)", "audience": "engineers"}),
    ], RESEARCH_MODEL), tools=(), retries=1)

    @editor.tool
    async def draft_report(ctx: RunContext[Any], topic: str, audience: str) -> str:
        """Research a topic, then have the writer draft a report from the findings."""
        found = await research.run(f"Research {topic}. Answer as JSON findings.", usage=ctx.usage)
        brief = ReportBrief(audience=audience, findings=ResearchFindings.model_validate_json(found.output), word_limit=600)
        return (await writer.run(brief.model_dump_json(), usage=ctx.usage)).output

    editor.run_sync("Write a short report on retrieval-augmented generation for engineers.")


def invalid_args_refund_amount() -> None:
    """billing_agent calls issue_refund with an amount that is not a number, twice."""
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        call("issue_refund", {"order_id": "A-1042", "amount": "fifty-nine ninety", "reason": "broken"}),
        call("issue_refund", {"order_id": "A-1042", "amount": "$59.90", "reason": "broken"}),
    ]), retries=1)

    @agent.tool_plain
    def issue_refund(order_id: str, amount: float, reason: str) -> str:
        """Issue a refund."""
        return f"refunded ${amount:.2f} on {order_id}"

    agent.run_sync("Please refund my broken keyboard, order A-1042.")


def invalid_args_search_filters() -> None:
    """research_agent calls search_papers with a wrong argument name and type, twice."""
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"q": "self-reflection agents", "year": "recent"}),
        call("search_papers", {"query": "self-reflection agents", "max_results": "ten"}),
    ], RESEARCH_MODEL), retries=1)
    agent.run_sync("Find recent papers on self-reflecting agents.")


def invalid_args_in_delegated_agent() -> None:
    """triage delegates to shipping_agent, whose get_tracking calls never fit the signature."""
    shipping = support_agent("shipping_agent", scripted([
        call("get_tracking", {"tracking_number": "1Z999AA10123456784"}),
        call("get_tracking", {"order": "A-1043", "carrier": "UPS"}),
    ]), tools=("get_tracking",), retries=1)
    triage = support_agent("triage_agent", scripted([call("ask_shipping", {"question": "Where is order A-1043?"})]),
                           tools=())

    @triage.tool
    async def ask_shipping(ctx: RunContext[Any], question: str) -> str:
        """Ask the shipping desk."""
        return (await shipping.run(question, usage=ctx.usage)).output

    triage.run_sync("Where is my mouse? Order A-1043, tracking 1Z999AA10123456784.")


# --------------------------------------------------------------------------------------------------------------
# Scenarios: state layer
# --------------------------------------------------------------------------------------------------------------

def context_overflow_fulltext() -> None:
    """research_agent pulls two full texts into the prompt; the next OpenAI request overflows the window."""
    model = openai_model([
        completion(RESEARCH_MODEL, None, [("fetch_fulltext", {"paper_id": "P-201"}), ("fetch_fulltext", {"paper_id": "P-203"})]),
        api_error(400, CONTEXT_MSG.format(n=131_884), "invalid_request_error", "context_length_exceeded"),
    ], RESEARCH_MODEL)
    agent = research_agent("research_agent", model, tools=())

    @agent.tool_plain
    def fetch_fulltext(paper_id: str) -> str:
        """Full text of a paper."""
        return f"{paper_id} full text. " + "Section. " * 400

    agent.run_sync("Compare ReAct and Reflexion in depth, quoting both papers.")


def context_overflow_long_history() -> None:
    """triage_agent continues a very long ticket history on the real OpenAIChatModel; the first request overflows."""
    from pydantic_ai.messages import ModelRequest, UserPromptPart
    history: list[ModelMessage] = []
    for i in range(30):
        history.append(ModelRequest(parts=[UserPromptPart(f"Message {i} about order A-2210: " + "details " * 40)]))
        history.append(ModelResponse(parts=[TextPart(f"Reply {i}: we are looking into it.")]))
    model = openai_model([api_error(400, "Your input exceeds the context window of this model. Please adjust your input and try again.",
                                    "invalid_request_error", "context_length_exceeded")])
    agent = support_agent("triage_agent", model)
    agent.run_sync("Any update on my headphones refund?", message_history=history)


def context_overflow_in_summarizer() -> None:
    """editor delegates a 300-page PDF to summarizer_agent, whose model refuses the prompt as too long."""
    summarizer = research_agent("summarizer_agent", scripted([
        http_error(400, "claude-sonnet-4-5", "prompt is too long: 214873 tokens > 200000 maximum", "invalid_request_error", None),
    ], "claude-sonnet-4-5"), tools=())
    editor = research_agent("editor_agent", scripted([call("summarize", {"document_id": "thesis-2024-0193"})], RESEARCH_MODEL),
                            tools=())

    @editor.tool
    async def summarize(ctx: RunContext[Any], document_id: str) -> str:
        """Summarise a document with the summarizer agent."""
        text = f"{document_id}: " + "chapter text " * 3000
        return (await summarizer.run(f"Summarise:\n{text}", usage=ctx.usage)).output

    editor.run_sync("Summarise the thesis thesis-2024-0193 for the reading group.")


def lost_state_handoff_drops_customer() -> None:
    """triage hands off to billing with fresh deps; billing's tool needs the customer id triage never passed on."""
    billing: Agent[dict[str, str], str] = Agent(scripted([call("customer_profile")]), name="billing_agent", deps_type=dict)

    @billing.tool
    def customer_profile(ctx: RunContext[dict[str, str]]) -> str:
        """The customer's billing profile."""
        return f"customer {ctx.deps['customer_id']}: card ending 4242"

    async def transfer_to_billing(ctx: RunContext[dict[str, str]], issue: str) -> str:
        """Hand the conversation to billing."""
        return (await billing.run(issue, deps={"ticket": ctx.deps["ticket"]}, usage=ctx.usage)).output

    triage: Agent[dict[str, str], str] = Agent(scripted([call("transfer_to_billing", {"issue": "charged twice for A-1042"})]),
                                               name="triage_agent", deps_type=dict,
                                               output_type=[ToolOutput(transfer_to_billing, name="transfer_to_billing"), str])
    triage.run_sync("I was charged twice for A-1042!", deps={"customer_id": "C-5531", "ticket": "T-88"})


def lost_state_writer_instructions() -> None:
    """writer_agent's instructions read the audience from deps; the orchestrator's hand-off did not set it."""
    writer: Agent[dict[str, Any], str] = Agent(scripted([say("unused")], RESEARCH_MODEL), name="writer_agent", deps_type=dict)

    @writer.instructions
    def brief(ctx: RunContext[dict[str, Any]]) -> str:
        return "Write for {audience}; stay under {word_limit} words.".format(**ctx.deps)

    editor = research_agent("editor_agent", scripted([
        call("search_papers", {"query": "evaluation benchmarks"}),
        call("write_section", {"heading": "Benchmarks", "notes": "HELM, G-Eval"}),
    ], RESEARCH_MODEL))

    @editor.tool
    async def write_section(ctx: RunContext[Any], heading: str, notes: str) -> str:
        """Have the writer draft one section."""
        return (await writer.run(f"{heading}: {notes}", deps={"word_limit": 300}, usage=ctx.usage)).output

    editor.run_sync("Draft the benchmarks section of our survey.")


def lost_state_pipeline_key() -> None:
    """draft_report keeps stage results in a dict; the writer stage reads a key the research stage never wrote."""
    research = research_agent("research_agent", scripted([call("search_papers", {"query": "agents"}), say("ReAct; Toolformer; Reflexion")],
                                                         RESEARCH_MODEL))
    editor = research_agent("editor_agent", scripted([call("draft_report", {"topic": "tool-using agents"})], RESEARCH_MODEL), tools=())
    state: dict[str, Any] = {}

    @editor.tool
    async def draft_report(ctx: RunContext[Any], topic: str) -> str:
        """Research then write."""
        state["research_output"] = (await research.run(f"Find papers on {topic}", usage=ctx.usage)).output
        notes = state["findings"]
        return f"Report on {topic}: {notes}"

    editor.run_sync("Draft a report on tool-using agents.")


def redundant_lookup_same_order() -> None:
    """billing_agent looks up A-1043 twice with identical arguments before answering."""
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1043"}),
        call("check_refund_policy", {"order_id": "A-1043"}),
        call("lookup_order", {"order_id": "A-1043"}),
        say("Order A-1043 is still in transit and eligible for a refund once it arrives, or you can refuse delivery."),
    ]), tools=("lookup_order", "check_refund_policy"))
    agent.run_sync("Can I get a refund for A-1043?")


def redundant_summarizer_twice() -> None:
    """research_agent delegates the same abstract to summarizer_agent twice."""
    summarizer = research_agent("summarizer_agent", scripted([say("ReAct interleaves reasoning and acting."),
                                                              say("ReAct interleaves reasoning and acting.")], RESEARCH_MODEL), tools=())
    agent = research_agent("research_agent", scripted([
        call("fetch_abstract", {"paper_id": "P-201"}),
        call("summarize", {"text": "P-201: We propose ReAct, interleaving reasoning traces and actions."}),
        call("summarize", {"text": "P-201: We propose ReAct, interleaving reasoning traces and actions."}),
        say("ReAct (P-201) interleaves reasoning and acting, improving tool use."),
    ], RESEARCH_MODEL), tools=("fetch_abstract",))

    @agent.tool
    async def summarize(ctx: RunContext[Any], text: str) -> str:
        """Summarise a text with the summarizer agent."""
        return (await summarizer.run(text, usage=ctx.usage)).output

    agent.run_sync("What is ReAct about?")


def redundant_search_repeated() -> None:
    """research_agent repeats an identical search among distinct ones."""
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"query": "rag evaluation"}),
        call("search_papers", {"query": "agents benchmarks"}),
        call("search_papers", {"query": "rag evaluation"}),
        say("Found RAG (P-101), DPR (P-102), ReAct (P-201) and Toolformer (P-202)."),
    ], RESEARCH_MODEL))
    agent.run_sync("Collect papers on RAG evaluation and agent benchmarks.")


# --------------------------------------------------------------------------------------------------------------
# Scenarios: routing layer
# --------------------------------------------------------------------------------------------------------------

def loop_tracking_request_limit() -> None:
    """shipping_agent keeps asking the carrier for the same order until the request limit stops the run."""
    agent = support_agent("shipping_agent", repeating(lambda n: call("get_tracking", {"order_id": "A-1043"})),
                          tools=("get_tracking",))
    agent.run_sync("Is A-1043 out for delivery yet? Keep checking.", usage_limits=UsageLimits(request_limit=6))


def loop_search_tool_calls_limit() -> None:
    """research_agent re-runs the same search until the tool-call limit stops it."""
    agent = research_agent("research_agent", repeating(lambda n: call("search_papers", {"query": "agent memory architectures"}),
                                                       RESEARCH_MODEL))
    agent.run_sync("Find everything on agent memory.", usage_limits=UsageLimits(tool_calls_limit=5))


def loop_in_delegated_critic() -> None:
    """editor delegates review to critic_agent, which fetches the same source over and over until the shared limit."""
    critic = research_agent("critic_agent", repeating(lambda n: call("fetch_abstract", {"paper_id": "P-302"}), RESEARCH_MODEL),
                            tools=("fetch_abstract",))
    editor = research_agent("editor_agent", scripted([call("review_draft", {"draft": "G-Eval shows LLM judges agree with humans."})],
                                                     RESEARCH_MODEL), tools=())

    @editor.tool
    async def review_draft(ctx: RunContext[Any], draft: str) -> str:
        """Have the critic review a draft."""
        return (await critic.run(f"Check every claim: {draft}", usage=ctx.usage,
                                 usage_limits=UsageLimits(request_limit=7))).output

    editor.run_sync("Review my paragraph on G-Eval.")


def unknown_tool_cancel_subscription() -> None:
    """billing_agent asks for a cancel_subscription tool that the desk does not have."""
    agent = support_agent("billing_agent", scripted([
        call("cancel_subscription", {"customer_id": "C-5531", "plan": "premium"}),
        call("cancel_subscription", {"customer_id": "C-5531"}),
    ]), tools=("lookup_order", "check_refund_policy"), retries=1)
    agent.run_sync("Cancel my premium plan, I'm customer C-5531.")


def unknown_tool_web_search() -> None:
    """research_agent calls web_search, which does not exist (only search_papers does), twice."""
    agent = research_agent("research_agent", scripted([
        call("web_search", {"query": "latest agent benchmarks 2025"}),
        call("web_search", {"query": "agent benchmarks 2025 leaderboard", "site": "arxiv.org"}),
    ], RESEARCH_MODEL), retries=1)
    agent.run_sync("What are the latest agent benchmarks?")


def unknown_tool_handoff_target() -> None:
    """triage tries to hand off to a legal desk that is not one of its hand-off targets."""
    billing = support_agent("billing_agent", scripted([say("unused")]), tools=())

    async def transfer_to_billing(ctx: RunContext[Any], issue: str) -> str:
        """Hand the conversation to billing."""
        return (await billing.run(issue, usage=ctx.usage)).output

    triage = support_agent("triage_agent", scripted([
        call("transfer_to_legal", {"issue": "customer threatens chargeback lawsuit over A-2210"}),
        call("transfer_to_legal", {"issue": "chargeback lawsuit over A-2210, customer wants legal"}),
    ]), tools=(), output_type=[ToolOutput(transfer_to_billing, name="transfer_to_billing"), str], retries=1)
    triage.run_sync("I will sue you if I don't get my $129 back for A-2210.")


def _ping_pong_support(rounds_before_answer: int | None) -> None:
    """triage and billing hand a ticket back and forth with output-function hand-offs."""
    agents: dict[str, Agent[Any, Any]] = {}

    async def transfer_to_billing(ctx: RunContext[Any], issue: str) -> str:
        """Hand the conversation to billing."""
        return (await agents["billing"].run(issue, usage=ctx.usage, usage_limits=UsageLimits(request_limit=7))).output

    async def transfer_to_triage(ctx: RunContext[Any], issue: str) -> str:
        """Hand the conversation back to triage."""
        return (await agents["triage"].run(issue, usage=ctx.usage, usage_limits=UsageLimits(request_limit=7))).output

    def billing_step(n: int) -> ModelResponse:
        if rounds_before_answer is not None and n >= rounds_before_answer:
            return say("The duplicate charge on A-1042 is a pre-authorisation; it drops off within 5 days.")
        return call("transfer_to_triage", {"issue": "duplicate charge on A-1042 looks like a shipping issue"})

    agents["triage"] = support_agent("triage_agent", repeating(
        lambda n: call("transfer_to_billing", {"issue": "customer reports a duplicate charge on A-1042"})), tools=(),
        output_type=[ToolOutput(transfer_to_billing, name="transfer_to_billing"), str])
    agents["billing"] = support_agent("billing_agent", repeating(billing_step), tools=("lookup_order",),
                                      output_type=[ToolOutput(transfer_to_triage, name="transfer_to_triage"), str])
    agents["triage"].run_sync("I see two charges for A-1042.", usage_limits=UsageLimits(request_limit=7))


def ping_pong_triage_billing_limit() -> None:
    _ping_pong_support(None)


def ping_pong_triage_billing_settles() -> None:
    _ping_pong_support(2)


def ping_pong_writer_fact_checker() -> None:
    """writer and fact_checker delegate to each other through tools until the shared request limit."""
    agents: dict[str, Agent[Any, Any]] = {}
    writer = research_agent("writer_agent", repeating(
        lambda n: call("check_facts", {"draft": "Toolformer was published in 2023 by Meta AI."}), RESEARCH_MODEL), tools=())
    checker = research_agent("fact_checker_agent", repeating(
        lambda n: call("ask_writer", {"question": "Which source supports the Toolformer claim?"}), RESEARCH_MODEL), tools=())
    agents.update(writer=writer, checker=checker)

    @writer.tool
    async def check_facts(ctx: RunContext[Any], draft: str) -> str:
        """Ask the fact checker to verify a draft."""
        return (await agents["checker"].run(draft, usage=ctx.usage, usage_limits=UsageLimits(request_limit=8))).output

    @checker.tool
    async def ask_writer(ctx: RunContext[Any], question: str) -> str:
        """Ask the writer for a source."""
        return (await agents["writer"].run(question, usage=ctx.usage, usage_limits=UsageLimits(request_limit=8))).output

    writer.run_sync("Write one verified sentence about Toolformer.", usage_limits=UsageLimits(request_limit=8))


# --------------------------------------------------------------------------------------------------------------
# Scenarios: recovery layer
# --------------------------------------------------------------------------------------------------------------

def retries_exhausted_capability_backoff() -> None:
    """triage_agent retries the OpenAI request with 0.2 s back-off (RetryModelRequest) on 429/503; all 3 attempts fail."""
    model = openai_model([
        api_error(429, RATE_LIMIT_MSG.format(model=SUPPORT_MODEL), "requests", "rate_limit_exceeded"),
        api_error(503, OVERLOADED_MSG, "server_error", None),
        api_error(429, RATE_LIMIT_MSG.format(model=SUPPORT_MODEL), "requests", "rate_limit_exceeded"),
    ])
    agent = support_agent("triage_agent", model, capabilities=[RetryTransientErrors(attempts=3, wait=0.2)])
    agent.run_sync("Where is my order A-1043?")


def retries_exhausted_tool_model_retry() -> None:
    """check_inventory asks the model to retry while the warehouse API times out; the tool's retries run out."""
    async def warehouse(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out waiting for warehouse-api:8443", request=request)

    client = backend(warehouse)
    agent = support_agent("shipping_agent", scripted([
        call("check_inventory", {"sku": "KB-200"}),
        call("check_inventory", {"sku": "KB-200"}),
        call("check_inventory", {"sku": "KB-200"}),
    ]), tools=(), retries=2)

    @agent.tool_plain
    async def check_inventory(sku: str) -> str:
        """Warehouse stock for a SKU."""
        try:
            response = await client.get(f"/stock/{sku}")
        except httpx.TimeoutException as e:
            raise ModelRetry(f"Warehouse API timed out ({e}); try again.") from e
        return response.text

    agent.run_sync("Is the KB-200 keyboard back in stock?")


def retries_exhausted_app_retry_subagent() -> None:
    """fetch_abstract retries the summarizer sub-agent 3 times with 0.2 s back-off on 500s, then gives up."""
    summarizer = research_agent("summarizer_agent", scripted([
        http_error(500, RESEARCH_MODEL, SERVER_ERROR_MSG, "server_error", None) for _ in range(3)], RESEARCH_MODEL), tools=())
    agent = research_agent("research_agent", scripted([call("summarize_paper", {"paper_id": "P-202"})], RESEARCH_MODEL), tools=())

    @agent.tool
    async def summarize_paper(ctx: RunContext[Any], paper_id: str) -> str:
        """Summarise a paper (retries the summarizer on server errors)."""
        for attempt in range(3):
            try:
                return (await summarizer.run(f"Summarise {paper_id}", usage=ctx.usage)).output
            except ModelHTTPError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)
        return ""

    agent.run_sync("Summarise Toolformer for me.")


def retries_exhausted_tenacity_transport() -> None:
    """research_agent's HTTP client retries 429s with tenacity (3 attempts, 0.1 s apart) inside one chat span."""
    config = RetryConfig(stop=stop_after_attempt(3), wait=wait_fixed(0.1), reraise=True,
                         retry=retry_if_exception_type(httpx2.HTTPStatusError))
    model = openai_model([api_error(429, RATE_LIMIT_MSG.format(model=RESEARCH_MODEL), "tokens", "rate_limit_exceeded")] * 3,
                         RESEARCH_MODEL, tenacity=config)
    agent = research_agent("research_agent", model)
    agent.run_sync("Find papers on dense retrieval.")


def no_retry_rate_limit_openai() -> None:
    """billing_agent's OpenAI client has max_retries=0; the first 429 fails the run."""
    model = openai_model([
        completion(SUPPORT_MODEL, None, [("lookup_order", {"order_id": "B-0077"})]),
        api_error(429, RATE_LIMIT_MSG.format(model=SUPPORT_MODEL), "requests", "rate_limit_exceeded"),
    ])
    agent = support_agent("billing_agent", model)
    agent.run_sync("Why hasn't B-0077 shipped yet?")


def no_retry_timeout_openai() -> None:
    """research_agent's OpenAI request times out and nothing retries it."""
    model = openai_model([read_timeout], RESEARCH_MODEL)
    agent = research_agent("research_agent", model)
    agent.run_sync("List the main RAG papers.")


def no_retry_subagent_overloaded() -> None:
    """editor delegates to writer_agent, whose provider answers 503; nobody retries."""
    writer = research_agent("writer_agent", scripted([
        http_error(503, RESEARCH_MODEL, OVERLOADED_MSG, "server_error", None)], RESEARCH_MODEL), tools=())
    editor = research_agent("editor_agent", scripted([
        call("search_papers", {"query": "evaluation"}),
        call("write_draft", {"outline": "HELM vs G-Eval"})], RESEARCH_MODEL))

    @editor.tool
    async def write_draft(ctx: RunContext[Any], outline: str) -> str:
        """Have the writer draft from an outline."""
        return (await writer.run(outline, usage=ctx.usage)).output

    editor.run_sync("Draft a comparison of HELM and G-Eval.")


def no_retry_carrier_connect_error() -> None:
    """get_carrier_eta calls the carrier API, which refuses the connection; the error fails the run."""
    async def carrier(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = backend(carrier)
    agent = support_agent("shipping_agent", scripted([call("get_carrier_eta", {"order_id": "A-1043"})]), tools=())

    @agent.tool_plain
    async def get_carrier_eta(order_id: str) -> str:
        """Estimated delivery from the carrier."""
        response = await client.get(f"/carrier/eta/{order_id}")
        return response.text

    agent.run_sync("When will A-1043 arrive?")


def no_backoff_capability_immediate() -> None:
    """triage_agent retries a 429 at once (RetryModelRequest, no wait); the second attempt succeeds."""
    model = openai_model([
        api_error(429, RATE_LIMIT_MSG.format(model=SUPPORT_MODEL), "requests", "rate_limit_exceeded"),
        completion(SUPPORT_MODEL, "Order A-1042 was delivered 4 days ago to your front door."),
    ])
    agent = support_agent("triage_agent", model, capabilities=[RetryTransientErrors(attempts=3, wait=0.0)])
    agent.run_sync("Was A-1042 delivered?")


def no_backoff_app_retry_subagent() -> None:
    """summarize re-runs summarizer_agent immediately after a 503; the second run succeeds."""
    summarizer = research_agent("summarizer_agent", scripted([
        http_error(503, RESEARCH_MODEL, OVERLOADED_MSG, "server_error", None),
        say("HELM evaluates models across many scenarios and metrics.")], RESEARCH_MODEL), tools=())
    agent = research_agent("research_agent", scripted([
        call("summarize", {"text": "P-301 HELM: holistic evaluation of language models"}),
        say("HELM (P-301) is a holistic benchmark covering many scenarios and metrics.")], RESEARCH_MODEL), tools=())

    @agent.tool
    async def summarize(ctx: RunContext[Any], text: str) -> str:
        """Summarise a text (retries the summarizer once on error)."""
        try:
            return (await summarizer.run(text, usage=ctx.usage)).output
        except ModelAPIError:
            return (await summarizer.run(text, usage=ctx.usage)).output

    agent.run_sync("What is HELM?")


def no_backoff_tool_model_retry() -> None:
    """issue_refund hits a 503 from the payment gateway and asks the model to retry; it re-calls at once and succeeds."""
    attempts = {"n": 0}

    async def gateway(request: httpx.Request) -> httpx.Response:
        attempts["n"] += 1
        if attempts["n"] == 1:
            return httpx.Response(503, text="Service Unavailable")
        return httpx.Response(200, json={"refund_id": "R-7781", "status": "succeeded"})

    client = backend(gateway)
    agent = support_agent("billing_agent", scripted([
        call("issue_refund", {"order_id": "A-1042", "amount": 59.9}),
        call("issue_refund", {"order_id": "A-1042", "amount": 59.9}),
        say("Your refund R-7781 of $59.90 for A-1042 has been issued."),
    ]), tools=())

    @agent.tool_plain
    async def issue_refund(order_id: str, amount: float) -> str:
        """Refund through the payment gateway."""
        response = await client.post("/refunds", json={"order_id": order_id, "amount": amount})
        if response.status_code >= 500:
            raise ModelRetry(f"Payment gateway returned {response.status_code} {response.text}; retry the refund.")
        return response.text

    agent.run_sync("Refund A-1042 please, it arrived broken.")


def silent_summarizer_error_swallowed() -> None:
    """summarize swallows summarizer_agent's 500 and returns an empty summary; the answer goes out anyway."""
    summarizer = research_agent("summarizer_agent", scripted([
        http_error(500, RESEARCH_MODEL, SERVER_ERROR_MSG, "server_error", None)], RESEARCH_MODEL), tools=())
    agent = research_agent("research_agent", scripted([
        call("fetch_abstract", {"paper_id": "P-203"}),
        call("summarize", {"text": "P-203: Reflexion, verbal reinforcement learning"}),
        say("Reflexion has no notable findings to report."),
    ], RESEARCH_MODEL), tools=("fetch_abstract",))

    @agent.tool
    async def summarize(ctx: RunContext[Any], text: str) -> str:
        """Summarise a text with the summarizer agent."""
        try:
            return (await summarizer.run(text, usage=ctx.usage)).output
        except Exception:
            return ""

    agent.run_sync("Summarise the Reflexion paper.")


def silent_confirmation_email_lost() -> None:
    """send_confirmation swallows email_agent's timeout and reports the email as sent."""
    email = support_agent("email_agent", openai_model([read_timeout]), tools=())
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        call("send_confirmation", {"order_id": "A-1042", "note": "refund of $59.90 approved"}),
        say("Done! Your refund is approved and a confirmation email is on its way."),
    ]))

    @agent.tool
    async def send_confirmation(ctx: RunContext[Any], order_id: str, note: str) -> str:
        """Email the customer a confirmation."""
        with contextlib.suppress(ModelAPIError):
            await email.run(f"Write and send a confirmation for {order_id}: {note}", usage=ctx.usage)
        return "sent"

    agent.run_sync("Refund A-1042 and email me a confirmation.")


def silent_fact_check_error_swallowed() -> None:
    """verify_claims swallows fact_checker_agent's failure (its claims database is locked) and reports "verified"."""
    checker = research_agent("fact_checker_agent", scripted([call("lookup_claim", {"claim": "Toolformer is by Meta AI"})],
                                                            RESEARCH_MODEL), tools=())

    @checker.tool_plain
    def lookup_claim(claim: str) -> str:
        """Look a claim up in the fact database."""
        with sqlite3.connect(":memory:") as db:
            db.execute("CREATE TABLE claims (claim TEXT, verdict TEXT)")
            raise sqlite3.OperationalError("database is locked")

    editor = research_agent("editor_agent", scripted([
        call("verify_claims", {"text": "Toolformer (Meta AI, 2023) teaches models to call APIs."}),
        say("All claims verified. The paragraph is ready to publish."),
    ], RESEARCH_MODEL), tools=())

    @editor.tool
    async def verify_claims(ctx: RunContext[Any], text: str) -> str:
        """Fact-check a paragraph."""
        try:
            return (await checker.run(text, usage=ctx.usage)).output
        except Exception:
            return "verified: no issues found"

    editor.run_sync("Fact-check my Toolformer paragraph.")


def silent_refund_error_ignored() -> None:
    """issue_refund fails (gateway timeout, retry prompt) and the model tells the customer the refund went through."""
    agent = support_agent("billing_agent", scripted([
        call("issue_refund", {"order_id": "A-1043", "amount": 24.0}),
        say("Your refund of $24.00 for A-1043 has been processed. You'll see it in 3-5 business days."),
    ]), tools=())

    @agent.tool_plain
    def issue_refund(order_id: str, amount: float) -> str:
        """Refund through the payment gateway."""
        raise ModelRetry("Payment gateway timeout after 30s: refund for A-1043 was NOT created.")

    agent.run_sync("Refund A-1043, I cancelled it.")


def unhandled_ledger_locked() -> None:
    """issue_refund raises the app's own LedgerLockedError, which nothing handles."""
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        call("issue_refund", {"order_id": "A-1042", "amount": 59.9}),
    ]))

    @agent.tool_plain
    def issue_refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        raise LedgerLockedError(f"ledger partition eu-2 is locked by batch job nightly-close; cannot post refund for {order_id}")

    agent.run_sync("Refund my broken keyboard, A-1042.")


def unhandled_zero_division() -> None:
    """citation_rate divides by the number of papers found, which is zero for this query."""
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"query": "quantum agents"}),
        call("citation_rate", {"paper_ids": []}),
    ], RESEARCH_MODEL))

    @agent.tool_plain
    def citation_rate(paper_ids: list[str]) -> float:
        """Average citations per paper."""
        total = sum(len(p) for p in paper_ids)
        return total / len(paper_ids)

    agent.run_sync("How well cited is the work on quantum agents?")


def unhandled_paywall_in_subagent() -> None:
    """research_agent's fetch_fulltext hits a paywall (PaywallError) inside a delegated run; it fails the editor's run."""
    research = research_agent("research_agent", scripted([call("fetch_fulltext", {"paper_id": "P-202"})], RESEARCH_MODEL), tools=())

    @research.tool_plain
    def fetch_fulltext(paper_id: str) -> str:
        """Full text of a paper."""
        raise PaywallError(f"{paper_id}: publisher returned HTTP 200 with a login wall (springer.com)")

    editor = research_agent("editor_agent", scripted([call("deep_read", {"paper_id": "P-202"})], RESEARCH_MODEL), tools=())

    @editor.tool
    async def deep_read(ctx: RunContext[Any], paper_id: str) -> str:
        """Have the research agent read a paper in full."""
        return (await research.run(f"Read {paper_id} in full", usage=ctx.usage)).output

    editor.run_sync("Read the Toolformer paper in full and tell me its limitations.")


# --------------------------------------------------------------------------------------------------------------
# Clean runs (including benign look-alikes)
# --------------------------------------------------------------------------------------------------------------

def clean_support_lookup() -> None:
    agent = support_agent("triage_agent", scripted([
        call("lookup_order", {"order_id": "A-1043"}),
        say("Your order A-1043 is in transit and should arrive within two days."),
    ]))
    agent.run_sync("Where is my order A-1043?")


def clean_research_search() -> None:
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"query": "rag"}),
        call("fetch_abstract", {"paper_id": "P-101"}),
        say("RAG (P-101) combines a retriever with a generator; DPR (P-102) provides the retriever."),
    ], RESEARCH_MODEL), tools=("search_papers", "fetch_abstract"))
    agent.run_sync("Explain retrieval-augmented generation with references.")


def clean_retry_backoff_capability() -> None:
    """A 429, then a retry 0.25 s later (RetryModelRequest from the capability) that succeeds."""
    model = openai_model([
        api_error(429, RATE_LIMIT_MSG.format(model=SUPPORT_MODEL), "requests", "rate_limit_exceeded"),
        completion(SUPPORT_MODEL, None, [("lookup_order", {"order_id": "B-0077"})]),
        completion(SUPPORT_MODEL, "B-0077 is still being processed; it ships tomorrow."),
    ])
    agent = support_agent("triage_agent", model, capabilities=[RetryTransientErrors(attempts=3, wait=0.25)])
    agent.run_sync("Has B-0077 shipped?")


def clean_retry_backoff_sdk() -> None:
    """The openai SDK's own retry: a 429 with retry-after-ms 250, retried after the wait, succeeds."""
    model = openai_model([
        api_error(429, RATE_LIMIT_MSG.format(model=RESEARCH_MODEL), "tokens", "rate_limit_exceeded", {"retry-after-ms": "250"}),
        completion(RESEARCH_MODEL, "Dense Passage Retrieval (P-102) trains dual encoders for open-domain QA."),
    ], RESEARCH_MODEL, max_retries=2)
    agent = research_agent("research_agent", model, tools=())
    agent.run_sync("What is DPR?")


def clean_retry_backoff_tenacity() -> None:
    """pydantic_ai.retries transport: a 503, a 0.2 s wait, then success."""
    config = RetryConfig(stop=stop_after_attempt(3), wait=wait_fixed(0.2), reraise=True,
                         retry=retry_if_exception_type(httpx2.HTTPStatusError))
    model = openai_model([
        api_error(503, OVERLOADED_MSG, "server_error", None),
        completion(SUPPORT_MODEL, "Order A-2210 was delivered 47 days ago."),
    ], tenacity=config)
    agent = support_agent("shipping_agent", model, tools=())
    agent.run_sync("When was A-2210 delivered?")


def clean_retry_backoff_app_subagent() -> None:
    """write_section re-runs writer_agent 0.25 s after a 503; the second run succeeds."""
    writer = research_agent("writer_agent", scripted([
        http_error(503, RESEARCH_MODEL, OVERLOADED_MSG, "server_error", None),
        say("Benchmarks such as HELM and G-Eval measure quality along many axes.")], RESEARCH_MODEL), tools=())
    editor = research_agent("editor_agent", scripted([
        call("write_section", {"heading": "Benchmarks"}),
        say("Section drafted: Benchmarks such as HELM and G-Eval measure quality along many axes.")], RESEARCH_MODEL), tools=())

    @editor.tool
    async def write_section(ctx: RunContext[Any], heading: str) -> str:
        """Draft a section (retries the writer after a pause on provider errors)."""
        for attempt in range(3):
            try:
                return (await writer.run(f"Write the {heading} section", usage=ctx.usage)).output
            except ModelAPIError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.25)
        return ""

    editor.run_sync("Draft the benchmarks section.")


def clean_fallback_model() -> None:
    """The primary OpenAI model is overloaded; ModelFallback answers with the secondary model."""
    primary = openai_model([api_error(503, OVERLOADED_MSG, "server_error", None)])
    secondary = scripted([say("A-1043 is in transit; expected delivery is Thursday.")], "claude-haiku-4-5")
    agent = support_agent("triage_agent", primary, tools=(), capabilities=[ModelFallback(secondary)])
    agent.run_sync("When does A-1043 arrive?")


def clean_handoff_triage_to_billing() -> None:
    """One legitimate hand-off: triage ends its run with transfer_to_billing, billing answers."""
    billing = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        say("I see one charge of $59.90 and one pre-authorisation that will drop off in 3 days."),
    ]))

    async def transfer_to_billing(ctx: RunContext[Any], issue: str) -> str:
        """Hand the conversation to billing."""
        return (await billing.run(issue, usage=ctx.usage)).output

    triage = support_agent("triage_agent", scripted([call("transfer_to_billing", {"issue": "possible double charge on A-1042"})]),
                           tools=(), output_type=[ToolOutput(transfer_to_billing, name="transfer_to_billing"), str])
    triage.run_sync("Why was I charged twice for A-1042?")


def clean_delegate_and_return() -> None:
    """triage asks shipping (delegation tool), reads the answer and replies itself."""
    shipping = support_agent("shipping_agent", scripted([
        call("get_tracking", {"order_id": "A-1043"}), say("A-1043 is in transit, last scan Leipzig hub.")]), tools=("get_tracking",))
    triage = support_agent("triage_agent", scripted([
        call("ask_shipping", {"question": "Status of A-1043?"}),
        say("Your parcel A-1043 is on its way; it was last scanned at the Leipzig hub."),
    ]), tools=())

    @triage.tool
    async def ask_shipping(ctx: RunContext[Any], question: str) -> str:
        """Ask the shipping desk."""
        return (await shipping.run(question, usage=ctx.usage)).output

    triage.run_sync("Where's A-1043?")


def clean_programmatic_handoff() -> None:
    """draft_report runs research_agent, then writer_agent on research_agent's output."""
    research = research_agent("research_agent", scripted([
        call("search_papers", {"query": "agents"}),
        say("Key papers: ReAct (2022), Toolformer (2023), Reflexion (2023)."),
    ], RESEARCH_MODEL))
    writer = research_agent("writer_agent", scripted([
        say("Tool-using agents: ReAct interleaves reasoning and actions; Toolformer learns API calls; Reflexion adds self-critique."),
    ], RESEARCH_MODEL), tools=())
    editor = research_agent("editor_agent", scripted([
        call("draft_report", {"topic": "tool-using agents"}),
        say("Here is your report on tool-using agents."),
    ], RESEARCH_MODEL), tools=())

    @editor.tool
    async def draft_report(ctx: RunContext[Any], topic: str) -> str:
        """Research a topic, then have the writer draft the report."""
        notes = (await research.run(f"Find the key papers on {topic}", usage=ctx.usage)).output
        return (await writer.run(f"Write a paragraph from these notes: {notes}", usage=ctx.usage)).output

    editor.run_sync("Write me a paragraph on tool-using agents.")


def clean_revision_round() -> None:
    """Draft, critique, draft: the editor asks for one revision and accepts it."""
    writer = research_agent("writer_agent", scripted([
        say("LLM judges are reliable."),
        say("LLM judges such as G-Eval correlate with human ratings (Spearman 0.51 on SummEval), but show position bias."),
    ], RESEARCH_MODEL), tools=())
    critic = research_agent("critic_agent", scripted([
        say("Too vague: cite G-Eval's correlation numbers and mention known biases."),
    ], RESEARCH_MODEL), tools=())
    editor = research_agent("editor_agent", scripted([
        call("write_draft", {"instructions": "One sentence on LLM-as-judge reliability."}),
        call("critique_draft", {"draft": "LLM judges are reliable."}),
        call("write_draft", {"instructions": "Revise: cite G-Eval's correlation numbers and mention known biases."}),
        say("Final: LLM judges such as G-Eval correlate with human ratings (Spearman 0.51 on SummEval), but show position bias."),
    ], RESEARCH_MODEL), tools=())

    @editor.tool
    async def write_draft(ctx: RunContext[Any], instructions: str) -> str:
        """Have the writer draft or revise."""
        return (await writer.run(instructions, usage=ctx.usage)).output

    @editor.tool
    async def critique_draft(ctx: RunContext[Any], draft: str) -> str:
        """Have the critic review a draft."""
        return (await critic.run(draft, usage=ctx.usage)).output

    editor.run_sync("Write one careful sentence on how reliable LLM judges are.")


def clean_refund_refusal_handled() -> None:
    """issue_refund refuses (outside the refund window, retry prompt); the agent explains and offers store credit."""
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-2210"}),
        call("issue_refund", {"order_id": "A-2210", "amount": 129.0}),
        say("I'm sorry: A-2210 was delivered 47 days ago, past our 30-day refund window, so I can't refund it. "
            "I can offer $129 store credit or a repair under warranty instead."),
    ]))

    @agent.tool_plain
    def issue_refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        days = ORDERS[order_id]["delivered_days_ago"]
        if days and days > 30:
            raise ModelRetry(f"Refund refused: {order_id} was delivered {days} days ago; the refund window is 30 days.")
        return "refunded"

    agent.run_sync("I want a refund for my headphones, A-2210.")


def clean_tool_error_result_handled() -> None:
    """check_stock answers with an error field (discontinued SKU); the agent offers the replacement."""
    agent = support_agent("triage_agent", scripted([
        call("check_stock", {"sku": "HD-7"}),
        call("check_stock", {"sku": "HD-8"}),
        say("HD-7 is discontinued, but its successor HD-8 is in stock (14 units)."),
    ]), tools=("check_stock",))
    agent.run_sync("Can I buy another pair of HD-7 headphones?")


def clean_wrong_order_id_corrected() -> None:
    """lookup_order rejects a mistyped id (retry prompt); the agent retries with the right id."""
    agent = support_agent("triage_agent", scripted([
        call("lookup_order", {"order_id": "A-1024"}),
        call("lookup_order", {"order_id": "A-1042"}),
        say("Found it: A-1042 was delivered 4 days ago."),
    ]))
    agent.run_sync("Status of order A1042 please (might have typed it wrong).")


def clean_output_retry_recovered() -> None:
    """refund_agent's first structured answer is truncated JSON; the retry prompt fixes it."""
    agent = support_agent("refund_agent", scripted([
        call("check_refund_policy", {"order_id": "A-1043"}),
        call("final_result", '{"order_id": "A-1043", "approved": true, "amount": 24'),
        call("final_result", '{"order_id": "A-1043", "approved": true, "amount": 24.0}'),
    ]), tools=("check_refund_policy",), output_type=RefundDecision)
    agent.run_sync("Decide the refund for A-1043.")


def clean_args_retry_recovered() -> None:
    """search_papers gets a wrong argument once; the model fixes it on the retry prompt."""
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"query": "evaluation", "max_results": "a few"}),
        call("search_papers", {"query": "evaluation", "max_results": 3}),
        say("Evaluation papers: HELM (P-301), G-Eval (P-302)."),
    ], RESEARCH_MODEL))
    agent.run_sync("Give me three evaluation papers.")


def clean_unknown_tool_recovered() -> None:
    """The model names a tool that does not exist once, reads the list of tools and picks the right one."""
    agent = support_agent("shipping_agent", scripted([
        call("track_parcel", {"order_id": "A-1043"}),
        call("get_tracking", {"order_id": "A-1043"}),
        say("A-1043 is in transit; last scan at the Leipzig hub."),
    ]), tools=("get_tracking",))
    agent.run_sync("Track A-1043.")


def clean_output_validator_retry() -> None:
    """An output validator asks for at least two citations once (ModelRetry); the second answer passes."""
    agent = research_agent("research_agent", scripted([
        call("search_papers", {"query": "rag"}),
        call("final_result", {"topic": "RAG", "key_points": ["retrieval grounds answers"],
                              "citations": [{"title": "RAG", "year": 2020}]}),
        call("final_result", {"topic": "RAG", "key_points": ["retrieval grounds answers"],
                              "citations": [{"title": "RAG", "year": 2020}, {"title": "DPR", "year": 2020}]}),
    ], RESEARCH_MODEL), output_type=ResearchFindings)

    @agent.output_validator
    def enough_sources(findings: ResearchFindings) -> ResearchFindings:
        if len(findings.citations) < 2:
            raise ModelRetry("Cite at least two sources.")
        return findings

    agent.run_sync("Structured findings on RAG with at least two citations.")


def clean_structured_native_openai() -> None:
    """research_agent on the real OpenAIChatModel returns valid JSON-schema output at once."""
    model = openai_model([completion(RESEARCH_MODEL, json.dumps({
        "topic": "agents", "key_points": ["tools help", "reflection helps"],
        "citations": [{"title": "ReAct", "year": 2022}, {"title": "Reflexion", "year": 2023}]}))], RESEARCH_MODEL)
    agent = research_agent("research_agent", model, tools=(), output_type=NativeOutput(ResearchFindings))
    agent.run_sync("Structured findings on tool-using agents.")


def clean_parallel_fan_out() -> None:
    """Four distinct searches in one turn (parallel tool calls), then an answer."""
    agent = research_agent("research_agent", scripted([
        calls(("search_papers", {"query": "rag"}), ("search_papers", {"query": "agents"}),
              ("search_papers", {"query": "evaluation"}), ("search_papers", {"query": "long context"})),
        say("Across RAG, agents, evaluation and long context I found 8 core papers."),
    ], RESEARCH_MODEL))
    agent.run_sync("Map the core literature in four areas.")


def clean_long_research_session() -> None:
    """A long run: 12 model calls, 11 distinct searches and abstract fetches."""
    topics = ["rag", "agents", "evaluation", "long context", "tool use", "planning"]
    steps: list[Step] = []
    for i, t in enumerate(topics):
        steps.append(call("search_papers", {"query": f"{t} survey"}))
        if i < 5:
            steps.append(call("fetch_abstract", {"paper_id": f"P-{100 * (i + 1) + 1}"}))
    steps.append(say("Literature map: six areas, eleven sources, summarised above."))
    agent = research_agent("research_agent", scripted(steps, RESEARCH_MODEL), tools=("search_papers", "fetch_abstract"))
    agent.run_sync("Build me a literature map across six areas.")


def clean_long_support_session() -> None:
    """A long support run over the real OpenAIChatModel: 11 model calls checking distinct orders and policies."""
    responses: list[Callable[[httpx2.Request], httpx2.Response]] = []
    for oid in ORDERS:
        responses.append(completion(SUPPORT_MODEL, None, [("lookup_order", {"order_id": oid})]))
        responses.append(completion(SUPPORT_MODEL, None, [("get_tracking", {"order_id": oid})]))
    responses.append(completion(SUPPORT_MODEL, None, [("check_refund_policy", {"order_id": "A-2210"})]))
    responses.append(completion(SUPPORT_MODEL, None, [("check_refund_policy", {"order_id": "A-1042"})]))
    responses.append(completion(SUPPORT_MODEL, "Summary: 2 delivered, 1 in transit, 1 processing; A-1042 is refundable, A-2210 is not."))
    agent = support_agent("triage_agent", openai_model(responses), tools=("lookup_order", "get_tracking", "check_refund_policy"))
    agent.run_sync("Give me the status of all my orders and which ones I can still return.")


def clean_distinct_lookups() -> None:
    """Two lookups with different ids (not redundant), then an answer."""
    agent = support_agent("billing_agent", scripted([
        call("lookup_order", {"order_id": "A-1042"}),
        call("lookup_order", {"order_id": "A-1043"}),
        say("A-1042 ($59.90) is delivered and A-1043 ($24.00) is in transit; together $83.90."),
    ]))
    agent.run_sync("What did I pay for A-1042 and A-1043?")


# --------------------------------------------------------------------------------------------------------------

SCENARIOS: list[tuple[str, str, str, bool, Callable[[], None]]] = [
    # handoff
    ("output_parse_truncated_tool_json", "handoff", "output_parse_error", True, output_parse_truncated_tool_json),
    ("output_parse_prose_instead_of_json", "handoff", "output_parse_error", True, output_parse_prose_instead_of_json),
    ("output_parse_native_openai", "handoff", "output_parse_error", True, output_parse_native_openai),
    ("output_parse_in_delegated_agent", "handoff", "output_parse_error", True, output_parse_in_delegated_agent),
    ("schema_mismatch_output_missing_field", "handoff", "schema_mismatch", True, schema_mismatch_output_missing_field),
    ("schema_mismatch_refund_payload", "handoff", "schema_mismatch", True, schema_mismatch_refund_payload),
    ("schema_mismatch_programmatic_handoff", "handoff", "schema_mismatch", True, schema_mismatch_programmatic_handoff),
    ("invalid_args_refund_amount", "handoff", "invalid_tool_args", True, invalid_args_refund_amount),
    ("invalid_args_search_filters", "handoff", "invalid_tool_args", True, invalid_args_search_filters),
    ("invalid_args_in_delegated_agent", "handoff", "invalid_tool_args", True, invalid_args_in_delegated_agent),
    # state
    ("context_overflow_fulltext", "state", "context_overflow", True, context_overflow_fulltext),
    ("context_overflow_long_history", "state", "context_overflow", True, context_overflow_long_history),
    ("context_overflow_in_summarizer", "state", "context_overflow", True, context_overflow_in_summarizer),
    ("lost_state_handoff_drops_customer", "state", "lost_state", True, lost_state_handoff_drops_customer),
    ("lost_state_writer_instructions", "state", "lost_state", True, lost_state_writer_instructions),
    ("lost_state_pipeline_key", "state", "lost_state", True, lost_state_pipeline_key),
    ("redundant_lookup_same_order", "state", "redundant_work", False, redundant_lookup_same_order),
    ("redundant_summarizer_twice", "state", "redundant_work", False, redundant_summarizer_twice),
    ("redundant_search_repeated", "state", "redundant_work", False, redundant_search_repeated),
    # routing
    ("loop_tracking_request_limit", "routing", "loop", True, loop_tracking_request_limit),
    ("loop_search_tool_calls_limit", "routing", "loop", True, loop_search_tool_calls_limit),
    ("loop_in_delegated_critic", "routing", "loop", True, loop_in_delegated_critic),
    ("unknown_tool_cancel_subscription", "routing", "unknown_tool", True, unknown_tool_cancel_subscription),
    ("unknown_tool_web_search", "routing", "unknown_tool", True, unknown_tool_web_search),
    ("unknown_tool_handoff_target", "routing", "unknown_tool", True, unknown_tool_handoff_target),
    ("ping_pong_triage_billing_limit", "routing", "ping_pong", True, ping_pong_triage_billing_limit),
    ("ping_pong_triage_billing_settles", "routing", "ping_pong", False, ping_pong_triage_billing_settles),
    ("ping_pong_writer_fact_checker", "routing", "ping_pong", True, ping_pong_writer_fact_checker),
    # recovery
    ("retries_exhausted_capability_backoff", "recovery", "retries_exhausted", True, retries_exhausted_capability_backoff),
    ("retries_exhausted_tool_model_retry", "recovery", "retries_exhausted", True, retries_exhausted_tool_model_retry),
    ("retries_exhausted_app_retry_subagent", "recovery", "retries_exhausted", True, retries_exhausted_app_retry_subagent),
    ("retries_exhausted_tenacity_transport", "recovery", "retries_exhausted", True, retries_exhausted_tenacity_transport),
    ("no_retry_rate_limit_openai", "recovery", "no_retry", True, no_retry_rate_limit_openai),
    ("no_retry_timeout_openai", "recovery", "no_retry", True, no_retry_timeout_openai),
    ("no_retry_subagent_overloaded", "recovery", "no_retry", True, no_retry_subagent_overloaded),
    ("no_retry_carrier_connect_error", "recovery", "no_retry", True, no_retry_carrier_connect_error),
    ("no_backoff_capability_immediate", "recovery", "no_backoff", False, no_backoff_capability_immediate),
    ("no_backoff_app_retry_subagent", "recovery", "no_backoff", False, no_backoff_app_retry_subagent),
    ("no_backoff_tool_model_retry", "recovery", "no_backoff", False, no_backoff_tool_model_retry),
    ("silent_summarizer_error_swallowed", "recovery", "silent_failure", True, silent_summarizer_error_swallowed),
    ("silent_confirmation_email_lost", "recovery", "silent_failure", True, silent_confirmation_email_lost),
    ("silent_fact_check_error_swallowed", "recovery", "silent_failure", True, silent_fact_check_error_swallowed),
    ("silent_refund_error_ignored", "recovery", "silent_failure", True, silent_refund_error_ignored),
    ("unhandled_ledger_locked", "recovery", "unhandled_error", True, unhandled_ledger_locked),
    ("unhandled_zero_division", "recovery", "unhandled_error", True, unhandled_zero_division),
    ("unhandled_paywall_in_subagent", "recovery", "unhandled_error", True, unhandled_paywall_in_subagent),
    # clean
    ("clean_support_lookup", "none", "none", False, clean_support_lookup),
    ("clean_research_search", "none", "none", False, clean_research_search),
    ("clean_retry_backoff_capability", "none", "none", False, clean_retry_backoff_capability),
    ("clean_retry_backoff_sdk", "none", "none", False, clean_retry_backoff_sdk),
    ("clean_retry_backoff_tenacity", "none", "none", False, clean_retry_backoff_tenacity),
    ("clean_retry_backoff_app_subagent", "none", "none", False, clean_retry_backoff_app_subagent),
    ("clean_fallback_model", "none", "none", False, clean_fallback_model),
    ("clean_handoff_triage_to_billing", "none", "none", False, clean_handoff_triage_to_billing),
    ("clean_delegate_and_return", "none", "none", False, clean_delegate_and_return),
    ("clean_programmatic_handoff", "none", "none", False, clean_programmatic_handoff),
    ("clean_revision_round", "none", "none", False, clean_revision_round),
    ("clean_refund_refusal_handled", "none", "none", False, clean_refund_refusal_handled),
    ("clean_tool_error_result_handled", "none", "none", False, clean_tool_error_result_handled),
    ("clean_wrong_order_id_corrected", "none", "none", False, clean_wrong_order_id_corrected),
    ("clean_output_retry_recovered", "none", "none", False, clean_output_retry_recovered),
    ("clean_args_retry_recovered", "none", "none", False, clean_args_retry_recovered),
    ("clean_unknown_tool_recovered", "none", "none", False, clean_unknown_tool_recovered),
    ("clean_output_validator_retry", "none", "none", False, clean_output_validator_retry),
    ("clean_structured_native_openai", "none", "none", False, clean_structured_native_openai),
    ("clean_parallel_fan_out", "none", "none", False, clean_parallel_fan_out),
    ("clean_long_research_session", "none", "none", False, clean_long_research_session),
    ("clean_long_support_session", "none", "none", False, clean_long_support_session),
    ("clean_distinct_lookups", "none", "none", False, clean_distinct_lookups),
]


def checked(scenario: str, should_raise: bool, run: Callable[[], None], verbose: bool) -> Callable[[], None]:
    """Run a scenario and make sure it ended the way its label says (raised, or returned)."""
    def wrapped() -> None:
        try:
            run()
        except Exception as e:
            if verbose:
                print(f"{scenario}: raised {type(e).__name__}: {str(e)[:150]}")
            raise
        if verbose:
            print(f"{scenario}: returned")
        if should_raise:
            raise RuntimeError(f"scenario {scenario} was meant to fail its run but returned")
    return wrapped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--verbose", action="store_true", help="print how each scenario ended")
    args = parser.parse_args()
    corpus = Corpus(framework=FRAMEWORK)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=corpus.provider, version=6))
    for scenario, layer, mode, failed, run in SCENARIOS:
        corpus.record(scenario, layer, mode, failed, checked(scenario, failed and mode != "silent_failure", run, args.verbose))
    corpus.write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
