"""Real CrewAI runs, traced with OpenInference's CrewAI + OpenAI instrumentors, as a labelled corpus.

    /work/venvs/crewai/bin/python tests/frameworks/crewai/generate.py --out tests/frameworks/corpus

Two small apps, each a crew of 2-3 agents with tasks, run offline against scripted models:

* **Support desk** (orders, refunds, inventory): agents "Support triage agent", "Billing specialist",
  "Refund auditor"; tools lookup_order, issue_refund, get_refund_policy, check_inventory.
  Model: ``crewai.LLM(model="gpt-4o-mini", base_url=...)``, i.e. CrewAI's own native OpenAI provider
  and the real ``openai`` SDK, talking to an in-process fake OpenAI server on 127.0.0.1 that replies
  with scripted chat completions (native function calling) or real HTTP errors (429 with
  rate_limit_exceeded, 400 context_length_exceeded, 500/503, a read that outlasts the client timeout).
* **Research assistant** (search, papers, summaries): agents "Research analyst", "Report writer",
  "Fact checker"; tools web_search, fetch_paper, summarise_text, check_citation.
  Model: ``GatewayLLM``, a ``crewai.BaseLLM`` subclass for a self-hosted model behind an
  OpenAI-compatible gateway (the same ``openai`` SDK, same fake server) without native tool calling, so
  CrewAI drives it with its ReAct text protocol ("Thought: / Action: / Action Input: / Final Answer:").

Instrumentation, as a user would set it up: ``CrewAIInstrumentor().instrument(tracer_provider=...)``
(default wrapper mode: ``Crew_<id>.kickoff`` CHAIN root, ``<role>._execute_core`` AGENT per task,
``<tool>.run`` TOOL) plus ``OpenAIInstrumentor`` for the model calls (``ChatCompletion`` LLM spans).
In this pair of versions the ReAct path runs tools through ``CrewStructuredTool.invoke`` and so
writes no TOOL span; the research app's tool calls show only in the LLM spans' messages.

Failures all happen inside CrewAI or the SDK: CrewAI's own rate-limit retry around ``BaseLLM.call``
(back-off about 1 s, 2 s), the agent's ``max_retry_limit`` (an immediate re-run of the task), the
openai SDK's ``max_retries`` (inside one LLM span), ``max_iter`` and its forced final answer,
CrewAI's repeated-tool-call guard (5 identical calls), its in-band tool errors ("Tool not found",
"Action 'x' don't exist", "Error: the Action Input is not a valid key, value dictionary",
"Error executing tool: ..."), ``tool_failure_policy="raise"``, task guardrails with
``guardrail_max_retries``, ``output_pydantic``/``output_json`` conversion (whose failure CrewAI
swallows, returning the raw text), missing task template variables, delegation between coworkers
("Delegate work to coworker" / "Ask question to coworker"), the hierarchical process and
``respect_context_window``.

Every mode of the catalog is produced (3-5 traces each, 21 clean runs). Caveats, all CrewAI's own
behaviour: ping-pong is repeated delegation (each hand-off runs the coworker inside the delegating
"Delegate work to coworker" call; a delegated coworker gets no delegation tools, so it cannot
delegate back itself, and in the hierarchical process the manager bounces the task between two
workers); retries by the openai SDK itself are invisible (one LLM span for all attempts); a ReAct
reply that cannot be parsed becomes the task's final answer (format_answer swallows
OutputParserError); context overflow with respect_context_window=False ends in SystemExit (the app
re-raises it as RuntimeError after the spans closed, which CrewAI's instrumentor leaves UNSET).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Stay offline and keep CrewAI's own telemetry / tracing from phoning home. OTEL_SDK_DISABLED must
# stay unset: it would switch off our own SDK too.
os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_DISABLE_TRACKING"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"
os.environ["OTEL_SDK_DISABLED"] = "false"
os.environ.pop("OTEL_SDK_DISABLED")
os.environ.setdefault("CREWAI_STORAGE_DIR", tempfile.mkdtemp(prefix="crewai-corpus-"))
os.environ["OPENAI_API_KEY"] = "sk-test-not-a-real-key"

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus_kit import Corpus

corpus = Corpus(framework="crewai", service="crewai-corpus-app")

from openinference.instrumentation.crewai import CrewAIInstrumentor  # noqa: E402
from openinference.instrumentation.openai import OpenAIInstrumentor  # noqa: E402

CrewAIInstrumentor().instrument(tracer_provider=corpus.provider)
OpenAIInstrumentor().instrument(tracer_provider=corpus.provider)

import openai  # noqa: E402
from crewai import LLM, Agent, Crew, Process, Task  # noqa: E402
from crewai.llms.base_llm import BaseLLM  # noqa: E402
from crewai.tools import tool  # noqa: E402
from pydantic import BaseModel, PrivateAttr  # noqa: E402

# --------------------------------------------------------------------------------------------
# The fake OpenAI-compatible server: one scripted reply per request, in order.
# --------------------------------------------------------------------------------------------

SCRIPT: list[Any] = []
REQUESTS: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        REQUESTS.append(body)
        if not SCRIPT:
            raise RuntimeError(f"script ran out at request {len(REQUESTS)}")
        item = SCRIPT.pop(0)
        status, headers = 200, {}
        if isinstance(item, dict) and "sleep" in item:  # outlast the client's read timeout
            time.sleep(item["sleep"])
            item = item["then"]
        if isinstance(item, dict) and "status" in item:
            status, payload, headers = item["status"], item["payload"], item.get("headers", {})
        else:
            msg: dict[str, Any] = {"role": "assistant", "content": None}
            if isinstance(item, str):
                msg["content"] = item
            else:
                msg["tool_calls"] = [
                    {"id": f"call_{len(REQUESTS)}_{i}", "type": "function",
                     "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                    for i, (name, args) in enumerate(item)]
            prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
            completion = len(json.dumps(msg)) // 4
            payload = {"id": f"chatcmpl-{len(REQUESTS)}", "object": "chat.completion", "created": 1767225600,
                       "model": body.get("model", "gpt-4o-mini"),
                       "choices": [{"index": 0, "message": msg, "logprobs": None,
                                    "finish_reason": "tool_calls" if msg.get("tool_calls") else "stop"}],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}}
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_{len(REQUESTS):06d}")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client already timed out
            pass


_server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
threading.Thread(target=_server.serve_forever, daemon=True).start()
BASE_URL = f"http://127.0.0.1:{_server.server_address[1]}/v1"


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


def http_error(status: int, message: str, type_: str | None, code: str | None, param: str | None = None,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"status": status, "headers": headers or {},
            "payload": {"error": {"message": message, "type": type_, "param": param, "code": code}}}


def rate_limit(model: str = "gpt-4o-mini", org: str = "org-desk", wait: str = "1.2s") -> dict[str, Any]:
    return http_error(429, f"Rate limit reached for {model} in organization {org} on tokens per min (TPM): "
                      f"Limit 200000, Used 199612, Requested 1840. Please try again in {wait}. Visit "
                      "https://platform.openai.com/account/rate-limits to learn more.", "tokens",
                      "rate_limit_exceeded")


def context_overflow(limit: int = 128000, used: int = 131907) -> dict[str, Any]:
    return http_error(400, f"This model's maximum context length is {limit} tokens. However, your messages "
                      f"resulted in {used} tokens (130811 in the messages, 1096 in the functions). Please "
                      "reduce the length of the messages or functions.", "invalid_request_error",
                      "context_length_exceeded", "messages")


def server_error(status: int = 500, headers: dict[str, str] | None = None) -> dict[str, Any]:
    if status == 503:
        return http_error(503, "The engine is currently overloaded, please try again later", "server_error",
                          None, headers=headers)
    if status == 502:
        return http_error(502, "Bad gateway.", "cf_bad_gateway", None, headers=headers)
    return http_error(500, "The server had an error while processing your request. Sorry about that!",
                      "server_error", None, headers=headers)


def slow(item: Any, seconds: float = 0.45) -> dict[str, Any]:
    return {"sleep": seconds, "then": item}


def calls(*pairs: tuple[str, Any]) -> list[tuple[str, Any]]:
    return list(pairs)


def react(thought: str, action: str, action_input: Any) -> str:
    text = action_input if isinstance(action_input, str) else json.dumps(action_input)
    return f"Thought: {thought}\nAction: {action}\nAction Input: {text}"


def final(answer: str, thought: str = "I now know the final answer") -> str:
    return f"Thought: {thought}\nFinal Answer: {answer}"


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


_LLMS: dict[Any, Any] = {}


def desk_llm(max_retries: int = 0, timeout: float | None = None, base_url: str | None = None) -> LLM:
    """CrewAI's native OpenAI provider (the real openai SDK) against the fake server.

    Built once per configuration and shared, as an app would (building the SDK client is slow).
    """
    key = ("desk", max_retries, timeout, base_url)
    if key not in _LLMS:
        _LLMS[key] = _desk_llm(max_retries, timeout, base_url)
    return _LLMS[key]


def _desk_llm(max_retries: int, timeout: float | None, base_url: str | None) -> LLM:
    kwargs: dict[str, Any] = {}
    if timeout is not None:
        kwargs["timeout"] = timeout
    return LLM(model="gpt-4o-mini", api_key="sk-test-not-a-real-key", base_url=base_url or BASE_URL,
               max_retries=max_retries, temperature=0.0, **kwargs)


class GatewayLLM(BaseLLM):
    """A self-hosted model behind an OpenAI-compatible gateway, plugged into CrewAI as a custom LLM.

    It has no native tool calling, so CrewAI drives it with the ReAct text protocol.
    """

    gateway_url: str = BASE_URL
    request_timeout: float = 10.0
    sdk_retries: int = 0
    _client: Any = PrivateAttr(default=None)

    def model_post_init(self, __context: Any) -> None:
        super().model_post_init(__context)
        self._client = openai.OpenAI(base_url=self.gateway_url, api_key="gateway-local",
                                     max_retries=self.sdk_retries, timeout=self.request_timeout)

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None, available_functions: Any = None,
             from_task: Any = None, from_agent: Any = None, response_model: Any = None) -> Any:
        from crewai.events.types.llm_events import LLMCallType
        from crewai.utilities.types import LLMMessage  # noqa: F401

        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        msgs = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        self._emit_call_started_event(messages=messages, tools=tools, from_task=from_task, from_agent=from_agent)
        try:
            resp = self._client.chat.completions.create(model=self.model, messages=msgs,
                                                        stop=self.stop or None, temperature=self.temperature)
        except Exception as e:
            self._emit_call_failed_event(error=str(e), from_task=from_task, from_agent=from_agent)
            raise
        text = resp.choices[0].message.content or ""
        self._emit_call_completed_event(response=text, call_type=LLMCallType.LLM_CALL, from_task=from_task,
                                        from_agent=from_agent, messages=messages)
        return text

    def supports_function_calling(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 32768


def gateway_llm(**kw: Any) -> GatewayLLM:
    key = ("gateway", tuple(sorted(kw.items())))
    if key not in _LLMS:
        _LLMS[key] = GatewayLLM(model="qwen2.5-32b-instruct", temperature=0.0, **kw)
    return _LLMS[key]


# --------------------------------------------------------------------------------------------
# Support desk: tools and agents
# --------------------------------------------------------------------------------------------

ORDERS = {f"A-{i}": {"status": "delivered" if i % 2 else "shipped", "total_cents": 1000 + 250 * i,
                     "region": "EU" if i % 3 else "US"} for i in range(1, 40)}
INVENTORY = {("SKU-118", "berlin"): 0, ("SKU-118", "leeds"): 14, ("SKU-204", "berlin"): 3}
SESSION: dict[str, Any] = {}
FAULTS: dict[str, list[BaseException]] = {}


def _fault(name: str) -> None:
    queue = FAULTS.get(name)
    if queue:
        raise queue.pop(0)


@tool("lookup_order")
def lookup_order(order_id: str) -> str:
    """Look up an order by its id (e.g. A-17) and return status, total and region."""
    _fault("lookup_order")
    if order_id not in ORDERS:
        raise LookupError(f"order {order_id} not found")
    return json.dumps({"order_id": order_id, **ORDERS[order_id]})


@tool("issue_refund")
def issue_refund(order_id: str, amount_cents: int, reason: str) -> str:
    """Issue a refund for an order, in cents, with a short reason."""
    _fault("issue_refund")
    return json.dumps({"refund_id": f"rf_{order_id}_{amount_cents}", "order_id": order_id,
                       "amount_cents": amount_cents, "state": "queued"})


@tool("get_refund_policy")
def get_refund_policy(region: str) -> str:
    """Return the refund policy text for a sales region (EU, US)."""
    _fault("get_refund_policy")
    days = {"EU": 30, "US": 14}.get(region.upper(), 14)
    return f"Refunds in {region.upper()} are accepted within {days} days of delivery; shipping is not refunded."


@tool("check_inventory")
def check_inventory(sku: str, warehouse: str) -> str:
    """Units of a SKU on hand in a warehouse (berlin, leeds)."""
    _fault("check_inventory")
    return json.dumps({"sku": sku, "warehouse": warehouse, "on_hand": INVENTORY.get((sku, warehouse.lower()), 0)})


@tool("apply_store_credit")
def apply_store_credit(order_id: str, amount_cents: int) -> str:
    """Apply store credit for an order, reading the customer's cart from the session."""
    cart = SESSION["session_cart"]  # the shared session the intake step should have filled
    return json.dumps({"order_id": order_id, "credited": amount_cents, "cart": cart})


DESK_TOOLS = [lookup_order, issue_refund, get_refund_policy, check_inventory]


def triage(llm: Any, tools: list[Any] | None = None, **kw: Any) -> Agent:
    return Agent(role="Support triage agent", goal="Resolve customer tickets about orders quickly and correctly",
                 backstory="You work the first line of an online shop's support desk.", llm=llm,
                 tools=DESK_TOOLS if tools is None else tools, verbose=False, **kw)


def billing(llm: Any, tools: list[Any] | None = None, **kw: Any) -> Agent:
    return Agent(role="Billing specialist", goal="Handle refunds and credits according to policy",
                 backstory="You own refunds, credits and payment disputes.", llm=llm,
                 tools=[lookup_order, issue_refund, get_refund_policy] if tools is None else tools,
                 verbose=False, **kw)


def auditor(llm: Any, **kw: Any) -> Agent:
    return Agent(role="Refund auditor", goal="Check that refund decisions follow policy",
                 backstory="You review refund decisions before money moves.", llm=llm, tools=[get_refund_policy],
                 verbose=False, **kw)


class RefundDecision(BaseModel):
    order_id: str
    approve: bool
    amount_cents: int
    reason: str


# --------------------------------------------------------------------------------------------
# Research assistant: tools and agents
# --------------------------------------------------------------------------------------------

PAPERS = {"10.1038/s41586-023-06096-3": "Suppressing quantum errors by scaling a surface code logical qubit.",
          "10.48550/arXiv.2305.10403": "Sparse mixture-of-experts language models scale efficiently.",
          "10.1126/science.abq1841": "Long-term carbon storage in restored peatlands."}


@tool("web_search")
def web_search(query: str) -> str:
    """Search the web and return the top results as title - url lines."""
    _fault("web_search")
    slug = "-".join(query.lower().split()[:4])
    return f"1. {query.title()} - overview - https://example.org/{slug}\n2. Survey of {query} - https://arxiv.org/abs/{len(query)}01.0{len(slug)}"


@tool("fetch_paper")
def fetch_paper(doi: str) -> str:
    """Fetch a paper's abstract by DOI."""
    _fault("fetch_paper")
    if doi not in PAPERS:
        raise FileNotFoundError(f"DOI {doi} did not resolve (HTTP 404 from doi.org)")
    return f"{doi}: {PAPERS[doi]}"


@tool("summarise_text")
def summarise_text(text: str, max_words: int) -> str:
    """Summarise a text in at most max_words words."""
    _fault("summarise_text")
    return " ".join(text.split()[:max_words])


@tool("check_citation")
def check_citation(claim: str, doi: str) -> str:
    """Check whether a paper (DOI) supports a claim."""
    _fault("check_citation")
    return json.dumps({"doi": doi, "supports": doi in PAPERS, "claim": claim[:60]})


RESEARCH_TOOLS = [web_search, fetch_paper, summarise_text, check_citation]


def analyst(llm: Any, tools: list[Any] | None = None, **kw: Any) -> Agent:
    return Agent(role="Research analyst", goal="Find and read the primary sources for a research question",
                 backstory="You are a careful analyst who always reads the paper before citing it.", llm=llm,
                 tools=RESEARCH_TOOLS if tools is None else tools, verbose=False, **kw)


def writer(llm: Any, tools: list[Any] | None = None, **kw: Any) -> Agent:
    return Agent(role="Report writer", goal="Write short, accurate research briefs",
                 backstory="You turn an analyst's notes into a brief for busy readers.", llm=llm,
                 tools=[summarise_text] if tools is None else tools, verbose=False, **kw)


def checker(llm: Any, **kw: Any) -> Agent:
    return Agent(role="Fact checker", goal="Verify every claim in a brief against its source",
                 backstory="You check claims against the cited papers.", llm=llm, tools=[check_citation],
                 verbose=False, **kw)


class ResearchBrief(BaseModel):
    topic: str
    key_findings: list[str]
    sources: list[str]
    confidence: float


# --------------------------------------------------------------------------------------------
# Running one scenario
# --------------------------------------------------------------------------------------------


def reset(script: list[Any], faults: dict[str, list[BaseException]] | None = None,
          session: dict[str, Any] | None = None) -> None:
    SCRIPT[:] = script
    REQUESTS.clear()
    FAULTS.clear()
    FAULTS.update(faults or {})
    SESSION.clear()
    SESSION.update(session or {})


def kickoff(crew: Crew, script: list[Any], inputs: dict[str, Any] | None = None,
            faults: dict[str, list[BaseException]] | None = None, session: dict[str, Any] | None = None,
            check_script: bool = True) -> Any:
    reset(script, faults, session)
    try:
        return crew.kickoff(inputs=inputs or {})
    except SystemExit as e:  # CrewAI exits on context overflow with respect_context_window=False
        raise RuntimeError(f"crew exited: {e}") from e
    finally:
        if check_script and SCRIPT:
            raise AssertionError(f"{len(SCRIPT)} scripted replies left unused; next: {str(SCRIPT[0])[:200]}")


def crew_of(agents: list[Agent], tasks: list[Task], **kw: Any) -> Crew:
    return Crew(agents=agents, tasks=tasks, verbose=False, **kw)


def task(description: str, expected: str, agent: Agent, **kw: Any) -> Task:
    return Task(description=description, expected_output=expected, agent=agent, **kw)


# Scenarios register themselves here: (name, layer, mode, failed, fn)
SCENARIOS: list[tuple[str, str, str, bool, Any]] = []


def scenario(name: str, layer: str = "none", mode: str = "none", failed: bool = False):
    def deco(fn: Any) -> Any:
        SCENARIOS.append((name, layer, mode, failed, fn))
        return fn
    return deco


# ============================================================================================
# Clean runs
# ============================================================================================

@scenario("desk_order_status")
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Customer asks: where is my order A-17?", "Order status in one sentence", a)])
    return kickoff(c, [calls(("lookup_order", {"order_id": "A-17"})),
                       "Order A-17 was shipped and is on its way to you."])


@scenario("desk_delegate_refund_once")
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm, allow_delegation=True), billing(llm)
    c = crew_of([t, b], [task("Ticket 5521: customer wants a refund for order A-4 (arrived damaged).",
                             "What was done for the customer", t)])
    return kickoff(c, [
        calls(("lookup_order", {"order_id": "A-4"})),
        calls(("delegate_work_to_coworker", {"task": "Refund order A-4 in full (1700 cents), reason: arrived damaged",
                                             "context": "Order A-4 shipped, total 1700 cents, region EU.",
                                             "coworker": "Billing specialist"})),
        calls(("issue_refund", {"order_id": "A-4", "amount_cents": 1700, "reason": "arrived damaged"})),
        "Refund rf_A-4_1700 for 1700 cents is queued.",
        "A full refund of 17.00 for order A-4 has been queued (rf_A-4_1700).",
    ])


@scenario("desk_triage_then_billing_structured")
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm), billing(llm)
    t1 = task("Ticket 6610: order A-8 arrived late. Decide whether a partial refund is due.",
              "A refund decision as JSON", t, output_pydantic=RefundDecision)
    t2 = task("Carry out the refund decision from the triage step.", "Confirmation of the refund", b, context=[t1])
    c = crew_of([t, b], [t1, t2])
    return kickoff(c, [
        calls(("lookup_order", {"order_id": "A-8"})),
        calls(("get_refund_policy", {"region": "EU"})),
        json.dumps({"order_id": "A-8", "approve": True, "amount_cents": 500, "reason": "late delivery goodwill"}),
        calls(("issue_refund", {"order_id": "A-8", "amount_cents": 500, "reason": "late delivery goodwill"})),
        "Refund rf_A-8_500 (5.00) is queued for order A-8.",
    ])


@scenario("desk_missing_order_handled")
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Customer asks about order Z-404 which they say they placed yesterday.",
                           "A helpful reply to the customer", a)])
    return kickoff(c, [
        calls(("lookup_order", {"order_id": "Z-404"})),
        "I could not find an order with the number Z-404. Could you check the confirmation e-mail for the "
        "order number (it starts with A-) so I can look it up?",
    ])


@scenario("desk_rate_limit_backoff_ok")
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Is SKU-118 in stock in Leeds?", "Stock answer", a)])
    return kickoff(c, [
        rate_limit(),
        calls(("check_inventory", {"sku": "SKU-118", "warehouse": "leeds"})),
        "Yes, Leeds has 14 units of SKU-118 on hand.",
    ])


@scenario("desk_sdk_retry_503_ok")
def _() -> Any:
    a = triage(desk_llm(max_retries=2))
    c = crew_of([a], [task("What is the refund window in the US?", "Policy answer", a)])
    return kickoff(c, [
        server_error(503, headers={"retry-after-ms": "250"}),
        calls(("get_refund_policy", {"region": "US"})),
        "In the US you can return items within 14 days of delivery; shipping is not refunded.",
    ])


@scenario("desk_long_bulk_audit")
def _() -> Any:
    a = triage(desk_llm(), max_iter=30)
    ids = [f"A-{i}" for i in range(10, 21)]
    script: list[Any] = [calls(("lookup_order", {"order_id": i})) for i in ids]
    script.append("Checked 11 orders A-10..A-20: 6 delivered, 5 shipped, none missing.")
    c = crew_of([a], [task("Audit the status of orders A-10 through A-20 one by one.", "A status summary", a)])
    return kickoff(c, script)


@scenario("desk_hierarchical_manager")
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm), billing(llm)
    c = crew_of([t, b], [Task(description="Customer on ticket 7002 was double charged for order A-5; fix it.",
                              expected_output="What was done")],
                process=Process.hierarchical, manager_llm=llm)
    return kickoff(c, [
        calls(("delegate_work_to_coworker", {"task": "Refund the duplicate charge on order A-5 (2250 cents)",
                                             "context": "Customer was charged twice for A-5.",
                                             "coworker": "Billing specialist"})),
        calls(("issue_refund", {"order_id": "A-5", "amount_cents": 2250, "reason": "duplicate charge"})),
        "Duplicate charge refunded: rf_A-5_2250 queued.",
        "The duplicate charge of 22.50 on order A-5 was refunded (rf_A-5_2250).",
    ])


def _json_guardrail(output):  # CrewAI accepts no return annotation but Tuple[bool, Any]
    try:
        data = json.loads(output.raw)
    except json.JSONDecodeError as e:
        return False, f"Invalid JSON: {e}"
    return True, json.dumps(data)


@scenario("desk_guardrail_pass")
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Summarise the refund for order A-2 as JSON with order_id and amount_cents.",
                           "JSON", b, guardrail=_json_guardrail)])
    return kickoff(c, [calls(("lookup_order", {"order_id": "A-2"})),
                       json.dumps({"order_id": "A-2", "amount_cents": 1500})])


@scenario("desk_guardrail_one_revision")
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Give the refund for order A-3 as JSON with order_id and amount_cents.",
                           "JSON", b, guardrail=_json_guardrail, guardrail_max_retries=2)])
    return kickoff(c, ["Sure! {order_id: A-3, amount_cents: 1750}",
                       json.dumps({"order_id": "A-3", "amount_cents": 1750})])


@scenario("research_single_analyst")
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("What did the 2023 Nature paper on surface-code logical qubits show?",
                           "Three bullet points with the DOI", a)])
    return kickoff(c, [
        react("Search first.", "web_search", {"query": "surface code logical qubit 2023 Nature"}),
        react("Read the paper.", "fetch_paper", {"doi": "10.1038/s41586-023-06096-3"}),
        final("- Scaling the surface code from distance 3 to 5 lowered the logical error rate\n- First "
              "demonstration of error suppression by code scaling\n- DOI 10.1038/s41586-023-06096-3"),
    ])


@scenario("research_draft_critique_revise")
def _() -> Any:
    llm = gateway_llm()
    w, f = writer(llm), checker(llm)
    t1 = task("Draft a 3-sentence brief on sparse mixture-of-experts scaling.", "Draft brief", w)
    t2 = task("Check every claim in the draft against DOI 10.48550/arXiv.2305.10403.", "List of problems", f,
              context=[t1])
    t3 = task("Revise the draft to fix the problems the fact checker found.", "Final brief", w, context=[t1, t2])
    c = crew_of([w, f], [t1, t2, t3])
    return kickoff(c, [
        final("Sparse MoE models activate few experts per token. They scale to trillions of parameters. "
              "They always beat dense models."),
        react("Check the strongest claim.", "check_citation",
              {"claim": "MoE always beat dense models", "doi": "10.48550/arXiv.2305.10403"}),
        final("The claim 'always beat dense models' is too strong; the paper shows better compute efficiency."),
        final("Sparse MoE models activate few experts per token, which lets them scale to very large sizes "
              "at a fixed compute budget, where they train more efficiently than dense models."),
    ])


@scenario("research_long_literature_scan")
def _() -> Any:
    a = analyst(gateway_llm(), max_iter=30)
    topics = ["surface code threshold", "lattice surgery", "magic state distillation", "qubit leakage",
              "decoder latency", "erasure qubits", "bosonic codes", "LDPC quantum codes", "cat qubits",
              "neutral atom error correction", "color codes"]
    script: list[Any] = [react(f"Next topic: {q}.", "web_search", {"query": q}) for q in topics]
    script.append(final("Scanned 11 sub-topics of quantum error correction; see the list of surveys per topic."))
    c = crew_of([a], [task("Build a reading list: one survey for each sub-topic of quantum error correction.",
                           "Reading list", a)])
    return kickoff(c, script)


@scenario("research_paywall_handled")
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("Summarise DOI 10.1000/paywalled-2024 on soil carbon.", "Summary or explanation", a)])
    return kickoff(c, [
        react("Fetch it.", "fetch_paper", {"doi": "10.1000/paywalled-2024"}),
        react("That DOI does not resolve; search for the title instead.", "web_search",
              {"query": "soil carbon 2024 paywalled DOI 10.1000"}),
        final("The DOI 10.1000/paywalled-2024 does not resolve, and I found no open copy. I cannot summarise "
              "it; please send the PDF or a working DOI."),
    ])


@scenario("research_ask_coworker_once")
def _() -> Any:
    llm = gateway_llm()
    w, a = writer(llm, allow_delegation=True), analyst(llm)
    c = crew_of([w, a], [task("Write a two-sentence brief on restored peatlands and carbon.", "Brief", w)])
    return kickoff(c, [
        react("I need a source.", "Ask question to coworker",
              {"question": "Which paper shows long-term carbon storage in restored peatlands?",
               "context": "Brief for a newsletter", "coworker": "Research analyst"}),
        react("Search.", "web_search", {"query": "restored peatlands long-term carbon storage"}),
        final("Science paper DOI 10.1126/science.abq1841."),
        final("Restored peatlands store carbon over the long term (Science, 10.1126/science.abq1841). "
              "Restoration is one of the cheapest natural climate solutions."),
    ])


@scenario("research_rate_limit_backoff_ok")
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("Find the DOI of the sparse MoE scaling paper.", "DOI", a)])
    return kickoff(c, [
        rate_limit("qwen2.5-32b-instruct", "gateway", "800ms"),
        react("Search.", "web_search", {"query": "sparse mixture of experts scaling paper"}),
        final("10.48550/arXiv.2305.10403"),
    ])


@scenario("research_analyst_to_writer_pipeline")
def _() -> Any:
    llm = gateway_llm()
    a, w = analyst(llm), writer(llm)
    t1 = task("Collect the key result of DOI 10.1126/science.abq1841.", "Key result with DOI", a)
    t2 = task("Write a one-paragraph newsletter item from the analyst's notes.", "Paragraph", w, context=[t1])
    c = crew_of([a, w], [t1, t2])
    return kickoff(c, [
        react("Read it.", "fetch_paper", {"doi": "10.1126/science.abq1841"}),
        final("Restored peatlands store carbon over the long term (10.1126/science.abq1841)."),
        react("Tighten the wording.", "summarise_text",
              {"text": "Restored peatlands store carbon over the long term according to a Science study.",
               "max_words": 14}),
        final("Restoring drained peatlands locks carbon away for decades, a Science study finds "
              "(10.1126/science.abq1841)."),
    ])


@scenario("research_fact_check_pass")
def _() -> Any:
    f = checker(gateway_llm())
    c = crew_of([f], [task("Verify two claims: (1) surface-code scaling lowered logical errors "
                           "(10.1038/s41586-023-06096-3); (2) sparse MoE trains efficiently (10.48550/arXiv.2305.10403).",
                           "Verdict per claim", f)])
    return kickoff(c, [
        react("Claim 1.", "check_citation", {"claim": "surface-code scaling lowered logical errors",
                                             "doi": "10.1038/s41586-023-06096-3"}),
        react("Claim 2.", "check_citation", {"claim": "sparse MoE trains efficiently",
                                             "doi": "10.48550/arXiv.2305.10403"}),
        final("Both claims are supported by their cited papers."),
    ])


@scenario("desk_inventory_two_warehouses")
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Customer in Germany wants SKU-118 fast; where can we ship from?", "Warehouse", a)])
    return kickoff(c, [
        calls(("check_inventory", {"sku": "SKU-118", "warehouse": "berlin"})),
        calls(("check_inventory", {"sku": "SKU-118", "warehouse": "leeds"})),
        "Berlin is out of SKU-118; Leeds has 14 units, so we ship from Leeds (2-3 days to Germany).",
    ])


@scenario("desk_refund_then_audit")
def _() -> Any:
    llm = desk_llm()
    b, r = billing(llm), auditor(llm)
    t1 = task("Refund 30.00 on order A-6 (wrong size, EU, 12 days after delivery).", "Refund confirmation", b)
    t2 = task("Audit the refund just issued against the EU policy.", "Audit verdict", r, context=[t1])
    c = crew_of([b, r], [t1, t2])
    return kickoff(c, [
        calls(("issue_refund", {"order_id": "A-6", "amount_cents": 3000, "reason": "wrong size"})),
        "Refund rf_A-6_3000 (30.00) queued for order A-6.",
        calls(("get_refund_policy", {"region": "EU"})),
        "Compliant: 12 days is inside the 30-day EU window.",
    ])


@scenario("desk_refund_refused_escalated")
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Refund 180.00 on order A-7 (customer unhappy).", "Outcome", b)])
    return kickoff(c, [
        calls(("issue_refund", {"order_id": "A-7", "amount_cents": 18000, "reason": "customer unhappy"})),
        "I could not issue the 180.00 refund myself: refunds above 100.00 need a supervisor. I have escalated "
        "order A-7 to a supervisor and told the customer to expect an answer within one business day.",
    ], faults={"issue_refund": [PermissionError("refunds above 100.00 need supervisor approval")]})


@scenario("research_react_unparsed_became_answer", "handoff", "output_parse_error", True)
def _() -> Any:
    a, w = analyst(gateway_llm()), writer(gateway_llm())
    t1 = task("Find one survey on peatland carbon storage.", "A citation", a)
    t2 = task("Write a one-line reading tip from the analyst's citation.", "Reading tip", w, context=[t1])
    c = crew_of([a, w], [t1, t2])
    # The model forgets 'Action Input:'; CrewAI 1.15's format_answer turns the unparsable text into
    # the task's final answer, and the writer works from it.
    return kickoff(c, ["Thought: I should search the web for a survey on peatland carbon storage.\nAction: web_search",
                       final("Reading tip: search the web for a survey on peatland carbon storage.")])


# ============================================================================================
# handoff / output_parse_error
# ============================================================================================

@scenario("desk_refund_decision_prose", "handoff", "output_parse_error", True)
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm), billing(llm)
    t1 = task("Ticket 6720: order A-11 arrived with a broken lid. Decide on a refund.", "A refund decision as JSON",
              t, output_pydantic=RefundDecision)
    t2 = task("Carry out the refund decision from the triage step.", "Confirmation", b, context=[t1])
    c = crew_of([t, b], [t1, t2])
    return kickoff(c, [
        calls(("lookup_order", {"order_id": "A-11"})),
        "Sure! Here is the decision: approve a partial refund of 8.00 for order A-11 because the lid was broken.",
        # CrewAI's converter re-asks the model for the structure; the reply is cut off
        '{"order_id": "A-11", "approve": true, "amount_cents": 800, "reason": "broken lid',
        '{"order_id": "A-11", "approve": true, "amount_cents": 800, "reason": "broken lid',
        '{"order_id": "A-11", "approve": true, "amount_cents": 800, "reason": "broken lid',
    ])


@scenario("desk_guardrail_invalid_json_exhausted", "handoff", "output_parse_error", True)
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Give the refund for order A-13 as JSON with order_id and amount_cents.", "JSON", b,
                           guardrail=_json_guardrail, guardrail_max_retries=2)])
    return kickoff(c, ["Here you go: {'order_id': 'A-13', 'amount_cents': 4250}",
                       "{order_id: A-13, amount_cents: 4250}",
                       '```json\n{"order_id": "A-13", "amount_cents": 4250,}\n```'])


@scenario("research_brief_json_truncated", "handoff", "output_parse_error", True)
def _() -> Any:
    llm = gateway_llm()
    a, w = analyst(llm), writer(llm)
    t1 = task("Research brief on erasure qubits as JSON (topic, key_findings, sources, confidence).", "JSON brief",
              a, output_json=ResearchBrief)
    t2 = task("Turn the analyst's JSON brief into a newsletter paragraph.", "Paragraph", w, context=[t1])
    c = crew_of([a, w], [t1, t2])
    return kickoff(c, [
        react("Search.", "web_search", {"query": "erasure qubits"}),
        final('{"topic": "erasure qubits", "key_findings": ["erasures convert errors into known locations", '
              '"thresholds improve'),
        '{"topic": "erasure qubits", "key_findings": ["erasures convert errors into known locations"], "sources": ["https://example.org/erasure-qubits"',
    ])


@scenario("research_guardrail_parse_exhausted", "handoff", "output_parse_error", True)
def _() -> Any:
    w = writer(gateway_llm())
    c = crew_of([w], [task("Return the citation list for the brief as a JSON array of DOIs.", "JSON array", w,
                           guardrail=_json_guardrail, guardrail_max_retries=1)])
    return kickoff(c, [final("DOIs: 10.1038/s41586-023-06096-3, 10.48550/arXiv.2305.10403"),
                       final('["10.1038/s41586-023-06096-3", "10.48550/arXiv.2305.10403"')])


# ============================================================================================
# handoff / schema_mismatch
# ============================================================================================

@scenario("desk_refund_decision_missing_field", "handoff", "schema_mismatch", True)
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm), billing(llm)
    t1 = task("Ticket 6801: order A-14 is missing one item. Decide on a refund.", "A refund decision as JSON", t,
              output_pydantic=RefundDecision)
    t2 = task("Carry out the refund decision from the triage step.", "Confirmation", b, context=[t1])
    c = crew_of([t, b], [t1, t2])
    bad = json.dumps({"order_id": "A-14", "approve": True, "reason": "one item missing"})
    return kickoff(c, [
        calls(("lookup_order", {"order_id": "A-14"})),
        bad,
    ])


def _refund_schema_guardrail(output):
    try:
        RefundDecision.model_validate_json(output.raw)
    except Exception as e:  # pydantic.ValidationError
        return False, str(e)
    return True, output.raw


@scenario("desk_guardrail_schema_exhausted", "handoff", "schema_mismatch", True)
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Decide the refund for order A-16 (customer changed their mind) as a RefundDecision.",
                           "RefundDecision JSON", b, guardrail=_refund_schema_guardrail, guardrail_max_retries=1)])
    return kickoff(c, [json.dumps({"order_id": "A-16", "approve": "maybe", "amount_cents": "45.00"}),
                       json.dumps({"order_id": "A-16", "approve": False, "reason": "change of mind after 30 days"})])


@scenario("research_brief_wrong_types", "handoff", "schema_mismatch", True)
def _() -> Any:
    llm = gateway_llm()
    a, w = analyst(llm), writer(llm)
    t1 = task("Research brief on cat qubits (topic, key_findings, sources, confidence 0-1).", "Brief JSON", a,
              output_pydantic=ResearchBrief)
    t2 = task("Write a tweet-length teaser from the brief.", "Teaser", w, context=[t1])
    c = crew_of([a, w], [t1, t2])
    bad = json.dumps({"topic": "cat qubits", "key_findings": "bias-preserving gates", "sources": "arXiv",
                      "confidence": "high"})
    return kickoff(c, [
        react("Search.", "web_search", {"query": "cat qubits bias preserving"}),
        final(bad),
    ])


# ============================================================================================
# handoff / invalid_tool_args
# ============================================================================================

@scenario("desk_refund_wrong_arg_names_fixed", "handoff", "invalid_tool_args", False)
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Refund 12.50 on order A-19 (wrong colour delivered).", "Confirmation", b)])
    return kickoff(c, [
        calls(("issue_refund", {"order": "A-19", "amount": "12.50", "reason": "wrong colour"})),
        calls(("issue_refund", {"order_id": "A-19", "amount_cents": 1250, "reason": "wrong colour"})),
        "Refund rf_A-19_1250 (12.50) is queued for order A-19.",
    ])


@scenario("desk_inventory_bad_args_policy_raise", "handoff", "invalid_tool_args", True)
def _() -> Any:
    a = triage(desk_llm(), tool_failure_policy="raise")
    c = crew_of([a], [task("Can we ship two units of SKU-204 from Berlin today?", "Yes/no with stock", a)])
    return kickoff(c, [calls(("check_inventory", {"sku": "SKU-204", "warehouse_id": 3, "quantity": 2}))])


@scenario("research_action_input_not_dict", "handoff", "invalid_tool_args", False)
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("Find a survey on LDPC quantum codes.", "One citation", a)])
    return kickoff(c, [
        react("Search.", "web_search", "query = LDPC quantum codes survey, limit = 5"),
        react("Use a JSON object this time.", "web_search", {"query": "LDPC quantum codes survey"}),
        final("Survey of LDPC quantum codes - https://arxiv.org/abs/2601.019"),
    ])


@scenario("research_summarise_missing_arg", "handoff", "invalid_tool_args", False)
def _() -> Any:
    w = writer(gateway_llm())
    c = crew_of([w], [task("Summarise this abstract in 12 words: 'Long-term carbon storage in restored peatlands "
                           "was measured over twenty years across nine sites in northern Europe.'", "Summary", w)])
    return kickoff(c, [
        react("Summarise it.", "summarise_text", {"content": "Long-term carbon storage in restored peatlands was "
                                                  "measured over twenty years across nine sites.", "words": 12}),
        react("Fix the arguments.", "summarise_text", {"text": "Long-term carbon storage in restored peatlands "
                                                       "was measured over twenty years across nine sites.",
                                                       "max_words": 12}),
        final("Twenty years of data show restored peatlands store carbon long-term."),
    ])


# ============================================================================================
# state / context_overflow
# ============================================================================================

@scenario("desk_context_overflow_no_summarise", "state", "context_overflow", True)
def _() -> Any:
    a = triage(desk_llm(), respect_context_window=False)
    c = crew_of([a], [task("Audit every order since January for region EU and list anomalies.", "Anomaly list",
                           a)])
    return kickoff(c, [calls(("lookup_order", {"order_id": "A-1"})), context_overflow()])


@scenario("research_context_overflow_no_summarise", "state", "context_overflow", True)
def _() -> Any:
    a = analyst(gateway_llm(), respect_context_window=False)
    c = crew_of([a], [task("Read all three papers in full and compare their methods.", "Comparison", a)])
    return kickoff(c, [
        http_error(400, "This model's maximum context length is 32768 tokens. However, you requested 35021 tokens "
                   "(34021 in the messages, 1000 in the completion). Please reduce the length of the messages or "
                   "completion.", "invalid_request_error", "context_length_exceeded", "messages"),
    ])


@scenario("desk_context_overflow_summarised", "state", "context_overflow", False)
def _() -> Any:
    a = triage(desk_llm())  # respect_context_window=True (the default): CrewAI summarises and goes on
    c = crew_of([a], [task("Customer pasted a long chat history; tell them the status of order A-21.", "Status",
                           a)])
    return kickoff(c, [calls(("lookup_order", {"order_id": "A-21"})), context_overflow(),
                       "Summary: the customer asked for the status of order A-21; lookup_order says delivered.",
                       "Order A-21 was delivered."], check_script=False)


@scenario("research_context_overflow_summary_overflows", "state", "context_overflow", True)
def _() -> Any:
    w = writer(gateway_llm())
    c = crew_of([w], [task("Condense the full transcripts of all twelve interviews into one brief.", "Brief", w)])
    overflow = http_error(400, "This model's maximum context length is 32768 tokens. However, you requested 40112 "
                          "tokens (39112 in the messages, 1000 in the completion). Please reduce the length of the "
                          "messages or completion.", "invalid_request_error", "context_length_exceeded", "messages")
    return kickoff(c, [overflow, overflow, overflow])


# ============================================================================================
# state / lost_state
# ============================================================================================

@scenario("desk_missing_template_variable", "state", "lost_state", True)
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Customer {customer_id} asks where order {order_id} is.", "Status", a)])
    return kickoff(c, [], inputs={"order_id": "A-22"})


@scenario("research_missing_template_variable", "state", "lost_state", True)
def _() -> Any:
    a, w = analyst(gateway_llm()), writer(gateway_llm())
    t1 = task("Find two sources on {topic}.", "Two sources", a)
    t2 = task("Write a brief on {topic} for {audience}.", "Brief for {audience}", w, context=[t1])
    c = crew_of([a, w], [t1, t2])
    return kickoff(c, [], inputs={"topic": "bosonic codes"})


@scenario("desk_session_cart_missing", "state", "lost_state", True)
def _() -> Any:
    b = billing(desk_llm(), tools=[lookup_order, apply_store_credit], tool_failure_policy="raise")
    c = crew_of([b], [task("Give 5.00 store credit on order A-23 (late delivery).", "Confirmation", b)])
    return kickoff(c, [calls(("apply_store_credit", {"order_id": "A-23", "amount_cents": 500}))],
                   session={"customer": "c_881"})


# ============================================================================================
# state / redundant_work
# ============================================================================================

@scenario("desk_lookup_twice", "state", "redundant_work", False)
def _() -> Any:
    a = triage(desk_llm(), cache=False)
    c = crew_of([a], [task("Customer asks whether order A-24 can still be refunded.", "Answer", a)])
    return kickoff(c, [
        calls(("lookup_order", {"order_id": "A-24"})),
        calls(("get_refund_policy", {"region": "EU"})),
        calls(("lookup_order", {"order_id": "A-24"})),
        "Order A-24 was delivered; EU refunds are accepted within 30 days of delivery, so yes if within 30 days.",
    ])


@scenario("research_search_twice", "state", "redundant_work", False)
def _() -> Any:
    a = analyst(gateway_llm(), cache=False)
    c = crew_of([a], [task("Find a survey on magic state distillation.", "One citation", a)])
    return kickoff(c, [
        react("Search.", "web_search", {"query": "magic state distillation survey"}),
        react("Let me search again to be sure.", "web_search", {"query": "magic state distillation survey"}),
        final("Survey of magic state distillation survey - https://arxiv.org/abs/3101.027"),
    ])


@scenario("desk_policy_fetched_twice", "state", "redundant_work", False)
def _() -> Any:
    b = billing(desk_llm(), cache=False)
    c = crew_of([b], [task("Order A-25 (US) arrived broken; refund it if policy allows.", "Confirmation", b)])
    return kickoff(c, [
        calls(("get_refund_policy", {"region": "US"})),
        calls(("lookup_order", {"order_id": "A-25"})),
        calls(("get_refund_policy", {"region": "US"})),
        calls(("issue_refund", {"order_id": "A-25", "amount_cents": 7250, "reason": "arrived broken"})),
        "Refund rf_A-25_7250 (72.50) is queued for order A-25.",
    ])


# ============================================================================================
# routing / loop
# ============================================================================================

@scenario("desk_inventory_repeat_guard", "routing", "loop", True)
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Find a warehouse that can ship SKU-118 to Munich today.", "Warehouse", a)])
    same = calls(("check_inventory", {"sku": "SKU-118", "warehouse": "berlin"}))
    return kickoff(c, [same] * 5)


@scenario("desk_refund_max_iter", "routing", "loop", True)
def _() -> Any:
    b = billing(desk_llm(), cache=False, max_iter=3)
    c = crew_of([b], [task("Check whether order A-26 qualifies for a refund.", "Yes/no", b)])
    same = calls(("lookup_order", {"order_id": "A-26"}))
    return kickoff(c, [same, same, same, same])


@scenario("research_search_max_iter", "routing", "loop", True)
def _() -> Any:
    a = analyst(gateway_llm(), cache=False, max_iter=4)
    c = crew_of([a], [task("Find the original paper that introduced color codes.", "DOI", a)])
    same = react("Search again.", "web_search", {"query": "color codes original paper"})
    return kickoff(c, [same] * 5)


# ============================================================================================
# routing / unknown_tool
# ============================================================================================

@scenario("desk_unknown_tool_recovered", "routing", "unknown_tool", False)
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Customer wants to cancel the subscription tied to order A-27.", "Reply", a)])
    return kickoff(c, [
        calls(("cancel_subscription", {"order_id": "A-27"})),
        "I can't cancel subscriptions from the support desk; please use Account > Subscriptions, or reply and "
        "I will route you to the accounts team.",
    ])


@scenario("research_unknown_action_recovered", "routing", "unknown_tool", False)
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("Find the DOI of the restored peatlands carbon paper.", "DOI", a)])
    return kickoff(c, [
        react("Use scholar search.", "google_scholar", {"query": "restored peatlands carbon storage"}),
        react("Use web search.", "web_search", {"query": "restored peatlands long-term carbon storage Science"}),
        final("10.1126/science.abq1841"),
    ])


@scenario("desk_unknown_coworker", "routing", "unknown_tool", False)
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm, allow_delegation=True), billing(llm)
    c = crew_of([t, b], [task("Customer threatens legal action over order A-28; escalate.", "What was done", t)])
    return kickoff(c, [
        calls(("delegate_work_to_coworker", {"task": "Review legal exposure on order A-28",
                                             "context": "Customer threatens to sue.", "coworker": "Legal team"})),
        "I have logged the complaint about order A-28 and flagged it for a human supervisor.",
    ])


@scenario("desk_unknown_tool_policy_raise", "routing", "unknown_tool", True)
def _() -> Any:
    b = billing(desk_llm(), tool_failure_policy="raise")
    c = crew_of([b], [task("Send the customer of order A-29 a voucher for 10.00.", "Confirmation", b)])
    return kickoff(c, [calls(("send_voucher", {"order_id": "A-29", "amount_cents": 1000}))])


# ============================================================================================
# routing / ping_pong (delegation back and forth between two coworkers)
# ============================================================================================

def _delegate(task_text: str, coworker: str, context: str) -> list[tuple[str, Any]]:
    return calls(("delegate_work_to_coworker", {"task": task_text, "context": context, "coworker": coworker}))


@scenario("desk_refund_ping_pong", "routing", "ping_pong", False)
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm, allow_delegation=True), billing(llm)
    c = crew_of([t, b], [task("Ticket 8120: customer disputes the shipping fee on order A-30.", "Resolution", t)])
    return kickoff(c, [
        _delegate("Decide whether the shipping fee on A-30 is refundable", "Billing specialist", "Fee dispute, A-30"),
        "This depends on what triage promised at checkout; please confirm with the customer and send it back.",
        _delegate("Customer says nothing was promised; please decide the A-30 shipping fee refund",
                  "Billing specialist", "No promise on record"),
        "Triage owns goodwill gestures; decide on your side whether to waive it and send it back if a refund is needed.",
        _delegate("Triage does not do goodwill refunds; please decide the A-30 shipping fee",
                  "Billing specialist", "Third attempt"),
        "Shipping is not refundable per policy; no refund for A-30.",
        "The shipping fee on order A-30 is not refundable under our policy; the customer has been told.",
    ])


@scenario("research_writer_analyst_ping_pong", "routing", "ping_pong", False)
def _() -> Any:
    llm = gateway_llm()
    w, a = writer(llm, allow_delegation=True), analyst(llm)
    c = crew_of([w, a], [task("Prepare a brief on neutral atom error correction for the newsletter.", "Brief", w)])
    deleg = lambda t, ctx: react("Hand it to the analyst.", "Delegate work to coworker",  # noqa: E731
                                 {"task": t, "context": ctx, "coworker": "Research analyst"})
    return kickoff(c, [
        deleg("Write the newsletter brief on neutral atom error correction", "Newsletter, 150 words"),
        final("Writing the brief is the writer's job; I can only supply sources once you pick an angle."),
        deleg("Pick the angle and write the neutral atom brief yourself", "I don't know the field"),
        final("Please choose the angle first; send the brief back to me for sources after."),
        deleg("Angle: logical qubits on neutral atoms. Now draft the brief", "Still need you to draft"),
        final("Draft: neutral atom arrays ran small logical circuits with error detection in 2023."),
        final("Neutral atom arrays now run small logical circuits with error detection (2023 results)."),
    ])


@scenario("desk_hierarchical_manager_ping_pong", "routing", "ping_pong", False)
def _() -> Any:
    llm = desk_llm()
    t, b = triage(llm), billing(llm)
    c = crew_of([t, b], [Task(description="Approve or reject refund request RR-3391 for order A-31 (EU, 40 days old).",
                              expected_output="Decision")], process=Process.hierarchical, manager_llm=llm)
    return kickoff(c, [
        _delegate("Decide refund request RR-3391 for A-31", "Billing specialist", "40 days old, EU"),
        "Needs triage to confirm the delivery date first.",
        _delegate("Confirm the delivery date for A-31 and decide RR-3391", "Support triage agent", "Billing sent it back"),
        "Delivery date confirmed; the refund decision belongs to billing.",
        _delegate("Delivery confirmed; decide RR-3391 for A-31", "Billing specialist", "Triage sent it back"),
        "Still need triage's note on whether the customer was promised an exception.",
        _delegate("Was the customer of A-31 promised an exception? Then decide RR-3391", "Support triage agent",
                  "Billing sent it back again"),
        "No exception was promised. RR-3391 should be rejected: past the 30-day EU window.",
        "Rejected: RR-3391 is past the 30-day EU refund window and no exception was promised.",
    ])


# ============================================================================================
# recovery / retries_exhausted
# ============================================================================================

@scenario("desk_server_error_agent_retries_exhausted", "recovery", "retries_exhausted", True)
def _() -> Any:
    a = triage(desk_llm(), max_retry_limit=2)
    c = crew_of([a], [task("Where is order A-32?", "Status", a)])
    return kickoff(c, [server_error(500), server_error(500), server_error(500)])


@scenario("desk_rate_limit_backoff_exhausted", "recovery", "retries_exhausted", True)
def _() -> Any:
    b = billing(desk_llm(), max_retry_limit=0)
    c = crew_of([b], [task("Refund order A-33 in full (item never arrived).", "Confirmation", b)])
    return kickoff(c, [rate_limit(wait="20s"), rate_limit(wait="19s"), rate_limit(wait="17s")])


@scenario("research_gateway_timeout_retries_exhausted", "recovery", "retries_exhausted", True)
def _() -> Any:
    a = analyst(gateway_llm(request_timeout=0.2), max_retry_limit=1)
    c = crew_of([a], [task("Find recent work on decoder latency.", "Two citations", a)])
    return kickoff(c, [slow(final("late")), slow(final("late"))])


@scenario("desk_sdk_retries_exhausted_503", "recovery", "retries_exhausted", True)
def _() -> Any:
    a = triage(desk_llm(max_retries=2), max_retry_limit=0)
    c = crew_of([a], [task("Is SKU-204 in stock in Berlin?", "Stock answer", a)])
    busy = {"retry-after-ms": "150"}
    return kickoff(c, [server_error(503, busy), server_error(503, busy), server_error(503, busy)])


# ============================================================================================
# recovery / no_retry
# ============================================================================================

@scenario("desk_llm_timeout_not_retried", "recovery", "no_retry", True)
def _() -> Any:
    a = triage(desk_llm(timeout=0.2), max_retry_limit=0)
    c = crew_of([a], [task("Where is order A-34?", "Status", a)])
    return kickoff(c, [slow(calls(("lookup_order", {"order_id": "A-34"})))])


@scenario("research_gateway_down_not_retried", "recovery", "no_retry", True)
def _() -> Any:
    a = analyst(gateway_llm(gateway_url=_closed_port_url()), max_retry_limit=0)
    c = crew_of([a], [task("Find a survey on bosonic codes.", "Citation", a)])
    return kickoff(c, [])


@scenario("desk_inventory_api_timeout_policy_raise", "recovery", "no_retry", True)
def _() -> Any:
    import httpx
    a = triage(desk_llm(), tool_failure_policy="raise")
    c = crew_of([a], [task("Can Leeds ship SKU-118 today?", "Yes/no", a)])
    return kickoff(c, [calls(("check_inventory", {"sku": "SKU-118", "warehouse": "leeds"}))],
                   faults={"check_inventory": [httpx.ReadTimeout("timed out")]})


# ============================================================================================
# recovery / no_backoff (retried at once, then succeeded)
# ============================================================================================

@scenario("desk_503_agent_retry_immediate", "recovery", "no_backoff", False)
def _() -> Any:
    a = triage(desk_llm())  # max_retry_limit=2 (default): CrewAI re-runs the task at once
    c = crew_of([a], [task("What is the refund window in the EU?", "Policy", a)])
    return kickoff(c, [server_error(503), calls(("get_refund_policy", {"region": "EU"})),
                       "EU refunds are accepted within 30 days of delivery."])


@scenario("research_gateway_502_agent_retry_immediate", "recovery", "no_backoff", False)
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("Find the DOI for the surface code scaling paper.", "DOI", a)])
    return kickoff(c, [server_error(502), react("Search.", "web_search", {"query": "surface code scaling Nature 2023"}),
                       final("10.1038/s41586-023-06096-3")])


@scenario("desk_tool_timeout_model_retries_at_once", "recovery", "no_backoff", False)
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Is SKU-204 in stock in Berlin?", "Stock answer", a)])
    return kickoff(c, [calls(("check_inventory", {"sku": "SKU-204", "warehouse": "berlin"})),
                       calls(("check_inventory", {"sku": "SKU-204", "warehouse": "berlin"})),
                       "Berlin has 3 units of SKU-204."],
                   faults={"check_inventory": [TimeoutError("warehouse API did not answer within 5s")]})


# ============================================================================================
# recovery / silent_failure (an error swallowed, the run reports success)
# ============================================================================================

@scenario("desk_refund_failed_but_confirmed", "recovery", "silent_failure", True)
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Refund order A-35 in full (parcel lost).", "Confirmation", b)])
    return kickoff(c, [calls(("issue_refund", {"order_id": "A-35", "amount_cents": 9750, "reason": "parcel lost"})),
                       "Done: order A-35 has been refunded in full (97.50)."],
                   faults={"issue_refund": [ConnectionError("payments-gateway: connection reset by peer")]})


@scenario("research_fetch_failed_but_summarised", "recovery", "silent_failure", True)
def _() -> Any:
    a = analyst(gateway_llm())
    c = crew_of([a], [task("Summarise DOI 10.1038/s41586-023-06096-3.", "Summary", a)])
    return kickoff(c, [react("Fetch.", "fetch_paper", {"doi": "10.1038/s41586-023-06096-3"}),
                       final("The paper shows a 40% drop in logical error rate per code distance step.")],
                   faults={"fetch_paper": [PermissionError("403 Forbidden: institutional login required")] * 10})


@scenario("desk_inventory_error_ignored", "recovery", "silent_failure", True)
def _() -> Any:
    a = triage(desk_llm())
    c = crew_of([a], [task("Can Berlin ship SKU-204 today?", "Yes/no", a)])
    return kickoff(c, [calls(("check_inventory", {"sku": "SKU-204", "warehouse": "berlin"})),
                       "Yes, Berlin can ship SKU-204 today."],
                   faults={"check_inventory": [RuntimeError("inventory DB replica is read-only; query aborted")]})


# ============================================================================================
# recovery / unhandled_error
# ============================================================================================

class QuotaLedgerError(Exception):
    """The app's metering hook rejected a model call's usage record."""


class LedgerSyncError(Exception):
    """The app's own error when the refund ledger cannot be updated."""


def _post_to_ledger(output: Any) -> None:
    raise LedgerSyncError(f"ledger rejected entry for task output ({len(output.raw)} chars): period 2026-11 is closed")


@scenario("desk_task_callback_raises", "recovery", "unhandled_error", True)
def _() -> Any:
    b = billing(desk_llm())
    c = crew_of([b], [task("Refund 4.00 shipping on order A-36.", "Confirmation", b, callback=_post_to_ledger)])
    return kickoff(c, [calls(("issue_refund", {"order_id": "A-36", "amount_cents": 400, "reason": "shipping"})),
                       "Refund rf_A-36_400 queued."])


def _score_guardrail(output):
    words = len(output.raw.split())
    citations = output.raw.count("10.")
    ratio = words / citations  # a brief without a DOI divides by zero
    return ratio < 80, output.raw


@scenario("research_guardrail_bug", "recovery", "unhandled_error", True)
def _() -> Any:
    w = writer(gateway_llm())
    c = crew_of([w], [task("Write a 2-sentence brief on qubit leakage.", "Brief", w, guardrail=_score_guardrail)])
    return kickoff(c, [final("Leakage moves qubits outside the computational space. Leakage reduction units help.")])


@scenario("research_llm_custom_error", "recovery", "unhandled_error", True)
def _() -> Any:
    class MeteredGatewayLLM(GatewayLLM):
        def call(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            super().call(messages, *args, **kwargs)
            raise QuotaLedgerError("metering service refused usage record for tenant t-44: schema v3 expected")

    a = analyst(MeteredGatewayLLM(model="qwen2.5-32b-instruct"), max_retry_limit=0)
    c = crew_of([a], [task("Find a survey on lattice surgery.", "Citation", a)])
    return kickoff(c, [react("Search.", "web_search", {"query": "lattice surgery survey"})])


# ============================================================================================

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", help="comma-separated scenario names (for debugging)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    started = time.monotonic()
    for name, layer, mode, failed, fn in SCENARIOS:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        corpus.record(name, layer, mode, failed, fn)
        if args.only or os.environ.get("CORPUS_TIMING"):
            print(f"{name}: {time.monotonic() - t0:.2f}s", file=sys.stderr)
    corpus.write(args.out)
    print(f"{len(corpus.labels)} traces in {time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
