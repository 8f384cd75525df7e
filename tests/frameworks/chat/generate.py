"""Chat transcripts of real LangGraph tool-calling agents, one conversation per line, in the
OpenAI chat message format that the audit imports as ``chat``.

    python generate.py --out DIR   ->  DIR/chat.jsonl.gz  DIR/chat.labels.csv

Two customer-service apps, each a LangGraph prebuilt ``create_react_agent`` (agent node +
``ToolNode``) with an ``InMemorySaver`` checkpointer keyed by the conversation id, driven by a
scripted fake chat model (a ``BaseChatModel`` subclass with ``bind_tools``):

* **ShopDesk** (retail orders): ``lookup_order``, ``track_shipment``, ``change_shipping_address``,
  ``cancel_order``, ``check_return_eligibility``, ``issue_refund``, ``apply_store_credit``,
  ``search_orders_by_email``, ``get_customer_profile``, ``escalate_to_human``. Its ToolNode has
  ``handle_tool_errors=True``: a tool's exception comes back to the model as the tool message
  ``Error: OrderNotFound('...')\\n Please fix your mistakes.``; the system prompt is part of the
  thread, so its transcripts start with a ``system`` message.
* **SkyHelp** (airline): ``get_booking``, ``get_flight_status``, ``search_flights``,
  ``change_flight``, ``select_seat``, ``add_baggage``, ``request_refund``, ``issue_travel_credit``,
  ``file_baggage_claim``, ``get_fare_rules``, ``open_support_ticket``. Its ToolNode keeps the default
  error handling: argument validation errors come back as ``Error invoking tool ... Please fix the
  error and try again.``, the tools report business errors in-band as JSON (``{"error":
  "BOOKING_NOT_FOUND", ...}``) or ``Error: ...`` text, and any other exception escapes the graph.

Four conversations run a two-agent desk instead (the swarm pattern: a parent ``StateGraph`` whose
nodes are two ``create_react_agent`` agents with ``transfer_to_<agent>`` handoff tools returning
``Command(goto=..., graph=Command.PARENT)``): ShopDesk assistant + billing specialist, SkyHelp +
baggage desk. Assistant messages carry the agent's ``name``; a handoff is an assistant tool call
``transfer_to_billing_specialist`` answered by the tool message "Successfully transferred to
billing_specialist".

A simulated customer sends 1-14 messages; each is one ``graph.stream`` call on the thread. The
whole thread (``graph.get_state``) is converted with ``langchain_core.messages.
convert_to_openai_messages``; each message gets a ``timestamp`` from a simulated clock that the
fake model (latency), the fake tools (latency, time-outs) and the customer (typing) advance, so the
generator is fast and deterministic. A simulated resolution judge / CSAT puts ``eval_passed`` on
most conversations.

A tool-call loop ends the way ``create_react_agent`` ends it near ``recursion_limit`` (16 for
ShopDesk, 12 for SkyHelp): its own final assistant message "Sorry, need more steps to process this
request." (no GraphRecursionError is raised).

When the run raises (the model's ``openai.BadRequestError``
context_length_exceeded, a tool exception the ToolNode does not handle) the chat service stops the
conversation and exports the thread as the checkpointer holds it, i.e. up to the last completed
step (for a tool exception: ending with the assistant's tool call that never got an answer; for a
context overflow: ending with the message the model could not read) and records the exception on
the conversation: ``"status": "error"``, ``"error": {"type": "BadRequestError", "code":
"context_length_exceeded", "status_code": 400, "message": "Error code: 400 - {...}"}``.
No assistant fallback text is invented: the thread has none.

Scenarios (labels layer/mode, failed): clean (none) long conversations with handled tool errors
(wrong order number / last name then the right one, a time-out retried after a pause, a sold-out
fare then another flight, invalid arguments fixed, an unknown tool then the right tool, a refused
address change routed to a human); state/redundant_work (identical lookup after it succeeded);
recovery/unhandled_error, recovery/silent_failure (the agent says it worked; judge says no),
recovery/no_retry, recovery/retries_exhausted, routing/loop (recursion limit on a repeated tool
call; the same assistant reply over and over), routing/unknown_tool, handoff/invalid_tool_args
(incl. malformed JSON arguments, which LangChain parses into ``invalid_tool_calls`` and
``convert_to_openai_messages`` drops: only an empty assistant turn remains), state/context_overflow,
state/lost_state (a KeyError inside a tool), routing/ping_pong (the two desk agents hand the
customer back and forth; once until the parent graph's GraphRecursionError); clean: one legitimate
handoff per app.

Not produced: handoff/output_parse_error and schema_mismatch (a structured final answer is not a
chat message), recovery/no_backoff (an agent's retry of a tool always waits for a model call; the
SDK's own retries leave no trace in a transcript).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import random
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TRACING_V2"] = "false"
os.environ.pop("LANGSMITH_API_KEY", None)
os.environ.pop("LANGCHAIN_API_KEY", None)
os.environ["OPENAI_API_KEY"] = "sk-offline-not-used"
warnings.filterwarnings("ignore")

import httpx  # noqa: E402
import openai  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import InjectedToolCallId, tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import InjectedState, ToolNode, create_react_agent  # noqa: E402
from langgraph.types import Command  # noqa: E402
from pydantic import Field, PrivateAttr  # noqa: E402

FRAMEWORK = "chat"
LABEL_COLUMNS = ("framework", "scenario", "trace_id", "layer", "mode", "failed")


# --------------------------------------------------------------------------------------------
# simulated clock: model latency, tool latency, customer typing time
# --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        self.rng = random.Random(0)
        self.lock = threading.Lock()

    def start(self, when: datetime, seed: int) -> None:
        self.t = when
        self.rng = random.Random(seed)

    def advance(self, lo: float, hi: float | None = None) -> None:
        with self.lock:  # parallel tool calls run in threads
            self.t += timedelta(seconds=lo if hi is None else self.rng.uniform(lo, hi))

    def iso(self) -> str:
        return self.t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.t.microsecond // 1000:03d}Z"


CLOCK = Clock()
# message id -> ISO time: stamped where the message is made or first read (by the model, in the
# graph's own thread), so that times do not depend on how the stream consumer is scheduled
STAMPS: dict[str, str] = {}


def stamp(messages: list[BaseMessage]) -> None:
    for m in messages:
        if m.id and m.id not in STAMPS:
            STAMPS[m.id] = CLOCK.iso()
            CLOCK.advance(0.012)


# --------------------------------------------------------------------------------------------
# the scripted chat model
# --------------------------------------------------------------------------------------------

Spec = Callable[[list[BaseMessage]], AIMessage]


@dataclass
class Forever:
    """A step the model repeats every time it is asked (a model stuck in a loop)."""

    spec: Spec


def _openai_request() -> httpx.Request:
    return httpx.Request("POST", "https://api.openai.com/v1/chat/completions")


def context_length_error(window: int, tokens: int) -> openai.BadRequestError:
    body = {
        "message": f"This model's maximum context length is {window} tokens. However, your messages "
        f"resulted in {tokens} tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    return openai.BadRequestError(
        f"Error code: 400 - {{'error': {body!r}}}",
        response=httpx.Response(400, request=_openai_request(), json={"error": body}),
        body=body,
    )


def estimate_tokens(messages: list[BaseMessage], n_tools: int) -> int:
    chars = 0
    for m in messages:
        chars += len(m.content if isinstance(m.content, str) else json.dumps(m.content))
        for c in getattr(m, "tool_calls", None) or []:
            chars += len(c["name"]) + len(json.dumps(c["args"]))
    return chars // 4 + 4 * len(messages) + 95 * n_tools + 3


class ScriptedChatModel(BaseChatModel):
    """A chat model that plays a script: each step builds the next AIMessage from the messages it
    is given (so it reads the real tool results), and a prompt larger than ``context_window``
    raises the provider's own context_length_exceeded error."""

    model_name: str = "gpt-4o-mini-2024-07-18"
    context_window: int = 128_000
    script: list[Any] = Field(default_factory=list)
    seed: int = 0
    _pos: int = PrivateAttr(0)
    _n_tools: int = PrivateAttr(0)
    _rng: Any = PrivateAttr(None)

    @property
    def _llm_type(self) -> str:
        return "scripted-openai-compatible"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        self._n_tools = len(tools)
        return self

    def call_id(self) -> str:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "call_" + "".join(self._rng.choice(alphabet) for _ in range(24))

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        stamp(messages)  # tool results get their time when the model reads them
        tokens = estimate_tokens(messages, self._n_tools)
        CLOCK.advance(0.15, 0.4)
        if tokens > self.context_window:
            raise context_length_error(self.context_window, tokens)
        if self._pos >= len(self.script):
            raise RuntimeError(f"script exhausted after {self._pos} steps (generator bug)")
        step = self.script[self._pos]
        if isinstance(step, Forever):
            step = step.spec
        else:
            self._pos += 1
        if isinstance(step, BaseException):
            raise step
        msg = step(messages)
        for c in msg.tool_calls:
            c["id"] = self.call_id()
        msg.id = "chatcmpl-" + self.call_id()[5:]
        CLOCK.advance(0.5, 2.6 if msg.tool_calls else 4.5)
        stamp([msg])
        msg.response_metadata = {
            "model_name": self.model_name,
            "finish_reason": "tool_calls" if msg.tool_calls else "stop",
        }
        msg.usage_metadata = {
            "input_tokens": tokens,
            "output_tokens": max(1, len(str(msg.content)) // 4 + 12),
            "total_tokens": tokens + max(1, len(str(msg.content)) // 4 + 12),
        }
        return ChatResult(generations=[ChatGeneration(message=msg)])


# step builders ------------------------------------------------------------------------------


def say(text: str | Callable[[list[BaseMessage]], str]) -> Spec:
    return lambda msgs: AIMessage(content=text(msgs) if callable(text) else text)


def call(name: str, _say: str = "", **args: Any) -> Spec:
    return lambda msgs: AIMessage(content=_say, tool_calls=[{"name": name, "args": dict(args), "id": ""}])


def calls(*pairs: tuple[str, dict[str, Any]], _say: str = "") -> Spec:
    return lambda msgs: AIMessage(content=_say, tool_calls=[{"name": n, "args": dict(a), "id": ""} for n, a in pairs])


def bad_json_call(name: str, raw: str) -> Spec:
    """A tool call whose arguments are not valid JSON: LangChain's parser turns it into an
    ``invalid_tool_call`` (as the OpenAI integration does for malformed ``arguments``)."""
    return lambda msgs: AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": name,
                "args": raw,
                "id": "",
                "error": "Function "
                + name
                + " arguments:\n\n"
                + raw
                + "\n\nare not valid JSON. Received JSONDecodeError Expecting ',' delimiter",
                "type": "invalid_tool_call",
            }
        ],
    )


def last_tool(msgs: list[BaseMessage]) -> Any:
    """The latest tool result, parsed when it is JSON."""
    for m in reversed(msgs):
        if isinstance(m, ToolMessage):
            try:
                return json.loads(m.content)
            except (TypeError, ValueError):
                return m.content
    return None


def tool_results(msgs: list[BaseMessage]) -> list[Any]:
    """The tool results since the last assistant message, parsed when JSON."""
    out: list[Any] = []
    for m in reversed(msgs):
        if isinstance(m, ToolMessage):
            try:
                out.append(json.loads(m.content))
            except (TypeError, ValueError):
                out.append(m.content)
        elif isinstance(m, AIMessage):
            break
    return list(reversed(out))


@dataclass
class Turn:
    user: str
    steps: list[Any]
    before: Callable[[], None] | None = None  # a change in the backend while the customer types


# --------------------------------------------------------------------------------------------
# fake backends
# --------------------------------------------------------------------------------------------

FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Tom",
    "Priya",
    "Lukas",
    "Chen",
    "Sofia",
    "Daniel",
    "Emeka",
    "Hannah",
    "Mateo",
    "Yuki",
    "Olivia",
    "Rahul",
    "Grace",
    "Noah",
    "Fatima",
    "Ben",
    "Ingrid",
    "Carlos",
    "Mei",
]
LAST = [
    "Garcia",
    "Okafor",
    "Schmidt",
    "Nguyen",
    "Patel",
    "Johansson",
    "Rossi",
    "Kowalski",
    "Murphy",
    "Haddad",
    "Tanaka",
    "Fischer",
    "Silva",
    "Brennan",
    "Moreau",
    "Larsen",
    "Osei",
    "Delgado",
]
STREETS = [
    "Maple Ave",
    "Harbor St",
    "Elm Court",
    "Sunset Blvd",
    "King St W",
    "Birch Lane",
    "Ocean Dr",
    "Pine Ridge Rd",
    "Lakeview Terrace",
    "Cedar St",
    "Mill Road",
    "Park Place",
]
CITIES = [
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78704"),
    ("Denver", "CO", "80218"),
    ("Columbus", "OH", "43215"),
    ("Raleigh", "NC", "27601"),
    ("Madison", "WI", "53703"),
    ("Tucson", "AZ", "85719"),
    ("Albany", "NY", "12207"),
    ("Boise", "ID", "83702"),
]
PRODUCTS = [
    ("Merino crew sweater", 89.00),
    ("Trail running shoes", 124.95),
    ("Linen duvet cover", 149.00),
    ("Stainless water bottle", 24.99),
    ("Wireless earbuds", 79.50),
    ("Cast iron skillet", 45.00),
    ("Rain shell jacket", 169.00),
    ("Yoga mat", 38.00),
    ("Desk lamp", 59.90),
    ("Ceramic mug set", 32.00),
    ("Wool beanie", 22.00),
    ("Backpack 28L", 98.00),
    ("Bamboo cutting board", 29.95),
    ("Denim jacket", 110.00),
    ("Espresso grinder", 189.00),
    ("Kids rain boots", 34.50),
]
CARRIERS = ["UPS", "FedEx", "USPS"]


class OrderNotFound(LookupError):
    pass


class RefundError(Exception):
    pass


class PaymentGatewayError(Exception):
    pass


class ShopDB:
    def __init__(self, rng: random.Random, today: datetime) -> None:
        self.rng = rng
        self.today = today
        self.orders: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}
        self.tickets = 0
        self.flaky: dict[tuple[str, str], list[BaseException]] = {}
        self.raise_on: dict[tuple[str, str], BaseException] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.bulk_accounts: set[str] = set()
        self.email = ""

    def new_order(
        self, status: str = "shipped", days_ago: int | None = None, n_items: int = 1, email: str | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        oid = str(rng.randint(100000, 999999))
        while oid in self.orders:
            oid = str(rng.randint(100000, 999999))
        items = []
        for name, price in rng.sample(PRODUCTS, n_items):
            items.append({"sku": f"SKU-{rng.randint(10000, 99999)}", "name": name, "qty": 1, "price": price})
        days = days_ago if days_ago is not None else {"processing": 1, "shipped": 4, "delivered": 12}[status]
        placed = self.today - timedelta(days=days)
        city, state, zipc = rng.choice(CITIES)
        order = {
            "order_id": oid,
            "email": email or self.email,
            "status": status,
            "placed_at": placed.strftime("%Y-%m-%d"),
            "items": items,
            "total": round(sum(i["price"] for i in items) + 6.95, 2),
            "shipping_address": f"{rng.randint(12, 9800)} {rng.choice(STREETS)}, {city}, {state} {zipc}",
        }
        if status in ("shipped", "delivered"):
            carrier = rng.choice(CARRIERS)
            trk = {
                "UPS": "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTVWXY") for _ in range(16)),
                "FedEx": "".join(rng.choice("0123456789") for _ in range(12)),
                "USPS": "9400" + "".join(rng.choice("0123456789") for _ in range(18)),
            }[carrier]
            order["carrier"], order["tracking_number"] = carrier, trk
            scan_city = rng.choice(CITIES)[0]
            eta = self.today + timedelta(days=rng.randint(1, 4))
            self.shipments[trk] = {
                "tracking_number": trk,
                "carrier": carrier,
                "status": "DELIVERED" if status == "delivered" else rng.choice(["IN_TRANSIT", "OUT_FOR_DELIVERY"]),
                "last_scan": {
                    "city": scan_city,
                    "at": (self.today - timedelta(hours=rng.randint(2, 30))).strftime("%Y-%m-%dT%H:%M"),
                },
                "estimated_delivery": (placed + timedelta(days=days - 2)).strftime("%Y-%m-%d")
                if status == "delivered"
                else eta.strftime("%Y-%m-%d"),
                "signature_required": False,
            }
        self.orders[oid] = order
        return order

    def maybe_fail(self, tool_name: str, key: str) -> None:
        if (tool_name, key) in self.raise_on:
            raise self.raise_on[(tool_name, key)]
        pending = self.flaky.get((tool_name, key))
        if pending:
            exc = pending.pop(0)
            if isinstance(exc, TimeoutError):
                CLOCK.advance(10.0)
            raise exc


SHOP: ShopDB = ShopDB(random.Random(0), datetime(2026, 3, 2, tzinfo=UTC))


def _order(order_id: str) -> dict[str, Any]:
    oid = order_id.strip().lstrip("#")
    if oid not in SHOP.orders:
        raise OrderNotFound(f"No order with id {order_id!r}")
    return SHOP.orders[oid]


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order by its 6-digit order number: status, items, totals, shipping address, tracking."""
    CLOCK.advance(0.1, 0.5)
    SHOP.maybe_fail("lookup_order", order_id)
    return json.dumps(_order(order_id))


@tool
def track_shipment(tracking_number: str) -> str:
    """Get the carrier's latest tracking events for a tracking number."""
    CLOCK.advance(0.3, 1.2)
    SHOP.maybe_fail("track_shipment", tracking_number)
    if tracking_number not in SHOP.shipments:
        raise OrderNotFound(f"Carrier has no record of tracking number {tracking_number}")
    return json.dumps(SHOP.shipments[tracking_number])


@tool
def change_shipping_address(order_id: str, new_address: str) -> str:
    """Change the delivery address of an order that has not shipped yet."""
    CLOCK.advance(0.2, 0.6)
    order = _order(order_id)
    if order["status"] != "processing":
        raise ValueError(f"Order {order['order_id']} has already shipped; the shipping address is locked")
    order["shipping_address"] = new_address
    return json.dumps({"order_id": order["order_id"], "shipping_address": new_address, "updated": True})


@tool
def cancel_order(order_id: str, reason: str) -> str:
    """Cancel an order that has not shipped yet."""
    CLOCK.advance(0.2, 0.6)
    order = _order(order_id)
    if order["status"] != "processing":
        raise ValueError(f"Order {order['order_id']} cannot be cancelled in status {order['status']}")
    order["status"] = "cancelled"
    return json.dumps(
        {
            "order_id": order["order_id"],
            "status": "cancelled",
            "refund_amount": order["total"],
            "refund_to": "original payment method",
        }
    )


@tool
def check_return_eligibility(order_id: str) -> str:
    """Check whether an order can be returned for a refund, and the refundable amount."""
    CLOCK.advance(0.1, 0.4)
    order = _order(order_id)
    age = (SHOP.today - datetime.strptime(order["placed_at"], "%Y-%m-%d").replace(tzinfo=UTC)).days
    if order["status"] != "delivered":
        return json.dumps({"order_id": order["order_id"], "eligible": False, "reason": "not delivered yet"})
    if age > 30:
        return json.dumps(
            {
                "order_id": order["order_id"],
                "eligible": False,
                "reason": f"outside the 30-day return window (delivered {age - 3} days ago)",
                "store_credit_offer": round(order["total"] * 0.5, 2),
            }
        )
    return json.dumps(
        {
            "order_id": order["order_id"],
            "eligible": True,
            "refundable_amount": order["total"],
            "return_label_required": order["total"] > 50,
        }
    )


@tool
def issue_refund(order_id: str, amount: float, reason: str) -> str:
    """Refund an amount (in USD) for an order to the original payment method."""
    CLOCK.advance(0.4, 1.5)
    order = _order(order_id)
    SHOP.maybe_fail("issue_refund", order["order_id"])
    if amount > 500:
        raise RefundError(f"Refunds over $500.00 require supervisor approval (requested ${amount:.2f})")
    if amount > order["total"]:
        raise RefundError(f"Refund ${amount:.2f} exceeds the order total ${order['total']:.2f}")
    order["refunded"] = amount
    return json.dumps(
        {
            "refund_id": f"RF-{SHOP.rng.randint(100000, 999999)}",
            "order_id": order["order_id"],
            "amount": amount,
            "status": "pending",
            "expected_in_business_days": "5-7",
        }
    )


@tool
def apply_store_credit(email: str, amount: float) -> str:
    """Add store credit (USD) to the customer's account."""
    CLOCK.advance(0.2, 0.5)
    SHOP.maybe_fail("apply_store_credit", email)
    profile = SHOP.profiles.get(email, {"email": email, "loyalty_tier": "standard"})
    bonus = {"standard": 1.0, "silver": 1.05, "gold": 1.1}[profile["loyalty_tier"]]
    return json.dumps(
        {
            "email": email,
            "credited": round(amount * bonus, 2),
            "credit_code": f"SC-{SHOP.rng.randint(1000, 9999)}-{SHOP.rng.randint(1000, 9999)}",
        }
    )


@tool
def search_orders_by_email(email: str) -> str:
    """List the orders placed with an email address (newest first), with items and status."""
    CLOCK.advance(0.3, 0.9)
    rows = [o for o in SHOP.orders.values() if o["email"] == email]
    rows.sort(key=lambda o: o["placed_at"], reverse=True)
    return json.dumps(
        {
            "email": email,
            "count": len(rows),
            "orders": rows
            if email in SHOP.bulk_accounts
            else [
                {k: o[k] for k in ("order_id", "placed_at", "status", "total")}
                | {"items": [i["name"] for i in o["items"]]}
                for o in rows
            ],
        }
    )


@tool
def get_customer_profile(email: str) -> str:
    """Get the customer's account profile: name, loyalty tier, lifetime spend."""
    CLOCK.advance(0.1, 0.3)
    p = SHOP.profiles.get(email)
    if p is None:
        raise OrderNotFound(f"No customer account for {email}")
    return json.dumps(
        {"email": email, "name": p["name"], "tier": p["loyalty_tier"].title(), "lifetime_spend": p.get("spend", 0)}
    )


@tool
def escalate_to_human(summary: str, priority: Literal["low", "normal", "high", "urgent"]) -> str:
    """Open a ticket for the human support team with a summary of the issue."""
    CLOCK.advance(0.2, 0.6)
    SHOP.tickets += 1
    return json.dumps(
        {
            "ticket_id": f"SD-{48000 + SHOP.rng.randint(100, 9999)}",
            "priority": priority,
            "queue": "tier2",
            "first_response_sla_hours": {"urgent": 1, "high": 4}.get(priority, 24),
        }
    )


SHOP_TOOLS = [
    lookup_order,
    track_shipment,
    change_shipping_address,
    cancel_order,
    check_return_eligibility,
    issue_refund,
    apply_store_credit,
    search_orders_by_email,
    get_customer_profile,
    escalate_to_human,
]
SHOP_PROMPT = (
    "You are ShopDesk, the customer-support assistant of Northwind Outfitters. Be concise and friendly. "
    "Use the tools to look up orders, shipments, returns and refunds; never invent order data. "
    "Refunds over $500 need a human. Escalate billing disputes to the human team."
)


# SkyHelp ------------------------------------------------------------------------------------

AIRPORTS = [
    ("SEA", "Seattle"),
    ("SFO", "San Francisco"),
    ("DEN", "Denver"),
    ("ORD", "Chicago"),
    ("JFK", "New York"),
    ("BOS", "Boston"),
    ("ATL", "Atlanta"),
    ("LAX", "Los Angeles"),
    ("MSP", "Minneapolis"),
    ("PDX", "Portland"),
    ("AUS", "Austin"),
    ("YVR", "Vancouver"),
]


class ClaimsServiceError(Exception):
    pass


class SkyDB:
    def __init__(self, rng: random.Random, today: datetime) -> None:
        self.rng = rng
        self.today = today
        self.bookings: dict[str, dict[str, Any]] = {}
        self.flights: dict[tuple[str, str], dict[str, Any]] = {}
        self.sold_out: set[str] = set()
        self.taken: set[tuple[str, str]] = set()
        self.flaky: dict[tuple[str, str], list[str]] = {}
        self.raise_on: dict[tuple[str, str], BaseException] = {}
        self.fare_rules_pages = 0
        self.down: dict[str, str] = {}

    def code(self) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))

    def flight(self, origin: str, dest: str, date: str, hour: int | None = None) -> dict[str, Any]:
        rng = self.rng
        fn = f"SK {rng.randint(100, 2999)}"
        h = hour if hour is not None else rng.randint(6, 21)
        f = {
            "flight_number": fn,
            "origin": origin,
            "destination": dest,
            "date": date,
            "departs": f"{h:02d}:{rng.choice(['05', '15', '30', '40', '55'])}",
            "arrives": f"{(h + rng.randint(2, 5)) % 24:02d}:{rng.choice(['10', '20', '35', '50'])}",
            "status": "ON_TIME",
            "gate": f"{rng.choice('ABCDN')}{rng.randint(1, 40)}",
            "aircraft": rng.choice(["A320neo", "737-800", "A321", "E175", "787-9"]),
            "fare_from": rng.choice([129, 159, 189, 219, 249]),
        }
        self.flights[(fn, date)] = f
        return f

    def new_booking(
        self, last: str, first: str, days_out: int = 9, round_trip: bool = True, fare: str = "Main"
    ) -> dict[str, Any]:
        rng = self.rng
        (o, _), (d, _) = rng.sample(AIRPORTS, 2)
        out_date = (self.today + timedelta(days=days_out)).strftime("%Y-%m-%d")
        segs = [self.flight(o, d, out_date)]
        if round_trip:
            segs.append(
                self.flight(d, o, (self.today + timedelta(days=days_out + rng.randint(3, 8))).strftime("%Y-%m-%d"))
            )
        code = self.code()
        b = {
            "confirmation_code": code,
            "passenger": {"first_name": first, "last_name": last},
            "fare_family": fare,
            "fare_basis": rng.choice(["VLA7NR", "KH14AE", "QL21US", "TAA3BN"]),
            "refundable": fare == "Flex",
            "segments": [
                {
                    "flight_number": s["flight_number"],
                    "from": s["origin"],
                    "to": s["destination"],
                    "date": s["date"],
                    "departs": s["departs"],
                    "seat": f"{rng.randint(8, 34)}{rng.choice('BCDE')}",
                }
                for s in segs
            ],
            "checked_bags": 0,
            "total_paid": rng.choice([312.4, 428.8, 517.2, 389.6, 644.0]),
        }
        self.bookings[code] = b
        return b


SKY: SkyDB = SkyDB(random.Random(0), datetime(2026, 3, 2, tzinfo=UTC))


def _err(code: str, message: str) -> str:
    return json.dumps({"error": code, "message": message})


@tool
def get_booking(confirmation_code: str, last_name: str) -> str:
    """Retrieve a booking by its 6-character confirmation code and the passenger's last name."""
    CLOCK.advance(0.2, 0.8)
    if "get_booking" in SKY.down:
        CLOCK.advance(2.0)
        return SKY.down["get_booking"]
    b = SKY.bookings.get(confirmation_code.upper())
    if b is None or b["passenger"]["last_name"].lower() != last_name.strip().lower():
        return _err(
            "BOOKING_NOT_FOUND", f"No booking matches confirmation code {confirmation_code} and last name {last_name}"
        )
    return json.dumps(b)


@tool
def get_flight_status(flight_number: str, date: str) -> str:
    """Live status of a flight on a date (YYYY-MM-DD): departure, gate, delays."""
    CLOCK.advance(0.2, 0.7)
    pending = SKY.flaky.get(("get_flight_status", flight_number))
    if pending:
        CLOCK.advance(8.0)
        return pending.pop(0)
    f = SKY.flights.get((flight_number, date))
    if f is None:
        return _err("FLIGHT_NOT_FOUND", f"No flight {flight_number} operates on {date}")
    return json.dumps(
        {k: f[k] for k in ("flight_number", "date", "origin", "destination", "departs", "arrives", "status", "gate")}
        | ({"delay_minutes": f["delay"]} if f.get("delay") else {})
    )


@tool
def search_flights(origin: str, destination: str, date: str) -> str:
    """Search flights between two airports (IATA codes) on a date (YYYY-MM-DD)."""
    CLOCK.advance(0.4, 1.3)
    rows = [
        f
        for (fn, d), f in SKY.flights.items()
        if f["origin"] == origin and f["destination"] == destination and d == date
    ]
    rows.sort(key=lambda f: f["departs"])
    return json.dumps(
        {
            "results": [
                {k: f[k] for k in ("flight_number", "departs", "arrives", "aircraft", "fare_from")}
                | {"seats_in_fare": f["flight_number"] not in SKY.sold_out}
                for f in rows
            ]
        }
    )


@tool
def change_flight(confirmation_code: str, new_flight_number: str) -> str:
    """Move the booking's matching segment to another flight on the same route; returns the fare difference."""
    CLOCK.advance(0.5, 1.6)
    if ("change_flight", confirmation_code) in SKY.raise_on:
        raise SKY.raise_on[("change_flight", confirmation_code)]
    b = SKY.bookings.get(confirmation_code)
    if b is None:
        return _err("BOOKING_NOT_FOUND", f"No booking {confirmation_code}")
    if new_flight_number in SKY.sold_out:
        return _err(
            "FARE_CLASS_UNAVAILABLE",
            f"No seats left in fare class {b['fare_basis'][0]} on "
            f"{new_flight_number}; choose another flight or upgrade",
        )
    target = next((f for (fn, d), f in SKY.flights.items() if fn == new_flight_number), None)
    if target is None:
        return _err("FLIGHT_NOT_FOUND", f"Unknown flight {new_flight_number}")
    seg = next(s for s in b["segments"] if s["from"] == target["origin"] and s["to"] == target["destination"])
    old = seg["flight_number"]
    seg.update(flight_number=new_flight_number, departs=target["departs"], date=target["date"])
    diff = 0 if b["fare_family"] == "Flex" else 75 + max(0, target["fare_from"] - 159)
    return json.dumps(
        {
            "confirmation_code": confirmation_code,
            "changed": {"from": old, "to": new_flight_number},
            "date": target["date"],
            "departs": target["departs"],
            "change_fee": diff,
            "status": "TICKETED",
        }
    )


@tool
def select_seat(confirmation_code: str, seat: str) -> str:
    """Assign a seat (e.g. 14A) on the booking's next flight."""
    CLOCK.advance(0.2, 0.6)
    b = SKY.bookings.get(confirmation_code)
    if b is None:
        return _err("BOOKING_NOT_FOUND", f"No booking {confirmation_code}")
    fn = b["segments"][0]["flight_number"]
    if (fn, seat) in SKY.taken:
        return _err("SEAT_UNAVAILABLE", f"Seat {seat} on {fn} is already assigned")
    b["segments"][0]["seat"] = seat
    return json.dumps(
        {
            "confirmation_code": confirmation_code,
            "flight_number": fn,
            "seat": seat,
            "seat_fee": 0 if seat[-1] in "CD" else 18,
        }
    )


@tool
def add_baggage(confirmation_code: str, bags: int) -> str:
    """Add prepaid checked bags to a booking."""
    CLOCK.advance(0.2, 0.6)
    if ("add_baggage", confirmation_code) in SKY.raise_on:
        raise SKY.raise_on[("add_baggage", confirmation_code)]
    b = SKY.bookings[confirmation_code]
    allowance = {"Basic": 0, "Main": 0, "Flex": 1}
    prices = {"Basic": 40, "Main": 35, "Flex": 35}
    free = allowance[b["fare_family"]]
    b["checked_bags"] += bags
    return json.dumps(
        {
            "confirmation_code": confirmation_code,
            "checked_bags": b["checked_bags"],
            "price": max(0, bags - free) * prices[b["fare_family"]] * len(b["segments"]),
            "currency": "USD",
        }
    )


@tool
def request_refund(confirmation_code: str, reason: str) -> str:
    """Request a refund of a booking; non-refundable fares get a travel-credit offer instead."""
    CLOCK.advance(0.3, 0.9)
    b = SKY.bookings[confirmation_code]
    if not b["refundable"]:
        return json.dumps(
            {
                "confirmation_code": confirmation_code,
                "refundable": False,
                "reason": f"fare {b['fare_basis']} is non-refundable",
                "travel_credit_available": round(b["total_paid"] - 50, 2),
            }
        )
    return json.dumps(
        {
            "confirmation_code": confirmation_code,
            "refundable": True,
            "amount": b["total_paid"],
            "refund_reference": f"RR{SKY.rng.randint(1000000, 9999999)}",
        }
    )


@tool
def issue_travel_credit(confirmation_code: str) -> str:
    """Cancel a non-refundable booking and issue its value as travel credit valid 12 months."""
    CLOCK.advance(0.3, 0.9)
    b = SKY.bookings[confirmation_code]
    return json.dumps(
        {
            "confirmation_code": confirmation_code,
            "credit_amount": round(b["total_paid"] - 50, 2),
            "credit_id": f"TC-{SKY.code()}",
            "expires": (SKY.today + timedelta(days=365)).strftime("%Y-%m-%d"),
        }
    )


@tool
def file_baggage_claim(tag_number: str, description: str) -> str:
    """File a delayed or lost baggage claim for a bag tag number."""
    CLOCK.advance(0.4, 1.1)
    if ("file_baggage_claim", tag_number) in SKY.raise_on:
        raise SKY.raise_on[("file_baggage_claim", tag_number)]
    return json.dumps(
        {
            "claim_id": f"BC-{SKY.rng.randint(100000, 999999)}",
            "tag_number": tag_number,
            "status": "TRACING",
            "last_seen": SKY.rng.choice(["DEN transfer belt", "ORD baggage hall", "JFK Terminal 4 baggage office"]),
            "interim_expense_allowance_usd": 100,
        }
    )


def _fare_rules_text(fare_basis: str, pages: int) -> str:
    rng = random.Random(fare_basis)
    cats = [
        "ELIGIBILITY",
        "DAY/TIME",
        "SEASONALITY",
        "FLIGHT APPLICATION",
        "ADVANCE RES/TICKETING",
        "MINIMUM STAY",
        "MAXIMUM STAY",
        "STOPOVERS",
        "TRANSFERS",
        "COMBINATIONS",
        "BLACKOUT DATES",
        "SURCHARGES",
        "ACCOMPANIED TRAVEL",
        "SALES RESTRICTIONS",
        "PENALTIES",
        "HIGHER INTERMEDIATE POINT",
        "CHILDREN DISCOUNTS",
        "TOUR CONDUCTOR",
        "AGENT DISCOUNTS",
        "ALL OTHER DISCOUNTS",
        "VOLUNTARY CHANGES",
        "VOLUNTARY REFUNDS",
        "NEGOTIATED FARES",
    ]
    out = [f"FARE RULES {fare_basis} - SKYLINE AIR - PUBLIC TARIFF 0{rng.randint(100, 999)}"]
    for p in range(pages):
        for n, c in enumerate(cats, 1):
            lines = [f"{n:02d}. {c} (RULE {rng.randint(1000, 9999)}/{p + 1})"]
            for _ in range(3):
                lines.append(
                    f"  FOR {fare_basis[:2]}-TYPE FARES {rng.choice(['WITHIN', 'BETWEEN', 'FROM', 'VIA'])} "
                    f"{rng.choice(AIRPORTS)[0]} AND {rng.choice(AIRPORTS)[0]} - {rng.choice(['CHARGE', 'WAIVE', 'PERMIT', 'NOT PERMITTED'])} "
                    f"USD {rng.randint(0, 400)} FOR {rng.choice(['REISSUE', 'REVALIDATION', 'NO-SHOW', 'CANCEL', 'UPGRADE'])}. "
                    f"{rng.choice(['TICKETING MUST BE COMPLETED', 'RESERVATIONS ARE REQUIRED', 'CHANGES PERMITTED'])} "
                    f"{rng.choice(['AT LEAST', 'NO LATER THAN', 'WITHIN'])} {rng.randint(1, 21)} DAYS "
                    f"{rng.choice(['BEFORE DEPARTURE', 'AFTER RESERVATIONS', 'OF ORIGINAL TICKET ISSUE'])}."
                )
            out.append("\n".join(lines))
    return "\n".join(out)


@tool
def get_fare_rules(fare_basis: str) -> str:
    """The full published fare rules (ATPCO categories) for a fare basis code."""
    CLOCK.advance(0.5, 1.2)
    return _fare_rules_text(fare_basis, SKY.fare_rules_pages or 1)


@tool
def open_support_ticket(subject: str, priority: str = "normal") -> str:
    """Open a case for the customer-relations team (complaints, compensation, special assistance)."""
    CLOCK.advance(0.2, 0.5)
    return json.dumps(
        {
            "case_id": f"CR-{SKY.rng.randint(2000000, 2999999)}",
            "subject": subject,
            "priority": priority,
            "response_within": "48 hours" if priority != "urgent" else "4 hours",
        }
    )


SKY_TOOLS = [
    get_booking,
    get_flight_status,
    search_flights,
    change_flight,
    select_seat,
    add_baggage,
    request_refund,
    issue_travel_credit,
    file_baggage_claim,
    get_fare_rules,
    open_support_ticket,
]
SKY_PROMPT = (
    "You are SkyHelp, the virtual agent of Skyline Air. Help passengers with bookings, flight status, "
    "changes, seats, bags and refunds. Always verify the booking with confirmation code and last name. "
    "Quote fees from tool results only."
)


# --------------------------------------------------------------------------------------------
# conversation runner
# --------------------------------------------------------------------------------------------


@dataclass
class Conversation:
    scenario: str
    app: str  # "shop" | "sky"
    layer: str
    mode: str
    failed: bool
    turns: list[Turn]
    eval_passed: bool | None
    csat: int | None = None
    model: str = "gpt-4o-mini-2024-07-18"
    window: int = 128_000
    meta: dict[str, Any] = field(default_factory=dict)
    today: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    desk: bool = False  # two agents with handoffs instead of one


def build_agent(app: str, model: ScriptedChatModel) -> tuple[Any, int]:
    if app == "shop":
        graph = create_react_agent(
            model,
            ToolNode(SHOP_TOOLS, handle_tool_errors=True),
            name="shopdesk_assistant",
            checkpointer=InMemorySaver(),
        )
        return graph, 16
    graph = create_react_agent(model, SKY_TOOLS, prompt=SKY_PROMPT, name="skyhelp_agent", checkpointer=InMemorySaver())
    return graph, 12


# two-agent desks: the swarm pattern (handoff tools that return a Command to the parent graph)


class DeskState(MessagesState):
    active_agent: str


def handoff_tool(target: str, description: str) -> Any:
    @tool(f"transfer_to_{target}", description=description)
    def handoff(state: Annotated[dict, InjectedState], tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        msg = ToolMessage(
            f"Successfully transferred to {target}", name=f"transfer_to_{target}", tool_call_id=tool_call_id
        )
        return Command(
            goto=target, graph=Command.PARENT, update={"messages": [*state["messages"], msg], "active_agent": target}
        )

    return handoff


DESKS = {
    "shop": {
        "shopdesk_assistant": (
            [lookup_order, track_shipment, change_shipping_address, cancel_order, search_orders_by_email],
            SHOP_PROMPT + " Refunds, credits and billing questions go to the billing specialist.",
        ),
        "billing_specialist": (
            [lookup_order, check_return_eligibility, issue_refund, apply_store_credit, escalate_to_human],
            "You are the Northwind Outfitters billing specialist: refunds, store credit, charges. "
            "Delivery and address questions go back to the ShopDesk assistant.",
        ),
    },
    "sky": {
        "skyhelp_agent": (
            [get_booking, get_flight_status, search_flights, change_flight, select_seat],
            SKY_PROMPT + " Baggage questions go to the baggage desk.",
        ),
        "baggage_desk": (
            [get_booking, add_baggage, file_baggage_claim, open_support_ticket],
            "You are Skyline Air's baggage desk: checked bags, delayed and lost luggage claims. "
            "Flight changes and seats go back to SkyHelp.",
        ),
    },
}


def build_desk(app: str, model: ScriptedChatModel) -> tuple[Any, int]:
    agents = DESKS[app]
    names = list(agents)
    builder = StateGraph(DeskState)
    for name, (tools, prompt) in agents.items():
        others = [n for n in names if n != name]
        handoffs = [handoff_tool(o, f"Transfer the customer to the {o.replace('_', ' ')}.") for o in others]
        node = ToolNode(tools + handoffs, handle_tool_errors=True) if app == "shop" else tools + handoffs
        builder.add_node(name, create_react_agent(model, node, prompt=prompt, name=name), destinations=tuple(others))
    builder.add_conditional_edges(START, lambda s: s.get("active_agent") or names[0], names)
    return builder.compile(checkpointer=InMemorySaver()), 24


def run_conversation(conv: Conversation, index: int, rng: random.Random) -> dict[str, Any]:
    conv_id = f"{'sd' if conv.app == 'shop' else 'sk'}-conv-{rng.getrandbits(48):012x}"
    script: list[Any] = []
    bounds: list[int] = []
    for t in conv.turns:
        script.extend(t.steps)
        bounds.append(len(script))
    model = ScriptedChatModel(model_name=conv.model, context_window=conv.window, script=script, seed=index)
    graph, recursion_limit = (build_desk if conv.desk else build_agent)(conv.app, model)
    CLOCK.start(conv.today, index)
    cfg = {"configurable": {"thread_id": conv_id}, "recursion_limit": recursion_limit}
    STAMPS.clear()

    error: BaseException | None = None
    for k, t in enumerate(conv.turns):
        CLOCK.advance(5, 25 if k == 0 else 70)
        msgs: list[BaseMessage] = []
        if k == 0 and conv.app == "shop":
            msgs.append(SystemMessage(SHOP_PROMPT, id=f"sys-{conv_id}"))
        msgs.append(HumanMessage(t.user, id=f"{conv_id}-u{k}"))
        stamp(msgs)
        if t.before is not None:
            t.before()
        try:
            for _chunk in graph.stream({"messages": msgs}, cfg, stream_mode="values"):
                pass
        except Exception as exc:  # the chat service stops the conversation and records the error
            error = exc
            break
        if model._pos == bounds[k] - 1 and isinstance(script[model._pos], Forever):
            model._pos += 1  # the agent stopped the loop at its step limit: the turn is over
        if model._pos != bounds[k]:
            raise RuntimeError(f"{conv.scenario}: turn {k} used script steps up to {model._pos}, expected {bounds[k]}")
    if error is None and model._pos != len(script):
        raise RuntimeError(f"{conv.scenario}: script has unused steps")
    state = graph.get_state(cfg).values["messages"]
    stamp(state)  # what no model call read: the last tool results before an error
    converted = convert_to_openai_messages(state)
    assert len(converted) == len(state)
    for c, m in zip(converted, state, strict=True):
        c["timestamp"] = STAMPS[m.id]
    out: dict[str, Any] = {
        "id": conv_id,
        "model": conv.model,
        "created_at": converted[0]["timestamp"],
        "messages": converted,
    }
    if error is not None:
        err = {"type": type(error).__name__, "message": str(error)}
        if isinstance(error, openai.APIStatusError):
            err |= {"code": error.code, "status_code": error.status_code}
        out |= {"status": "error", "error": err}
    if conv.eval_passed is not None:
        out["eval_passed"] = conv.eval_passed
    meta = {
        "app": "shopdesk" if conv.app == "shop" else "skyhelp",
        "channel": rng.choice(["web_chat", "mobile_app", "web_chat", "whatsapp"]),
        "locale": "en-US",
    }
    if conv.desk:
        meta["agents"] = list(DESKS[conv.app])
    else:
        meta["agent"] = "shopdesk_assistant" if conv.app == "shop" else "skyhelp_agent"
    if conv.eval_passed is not None:
        meta["judge"] = {"name": "resolution-judge-v3", "passed": conv.eval_passed}
    if conv.csat is not None:
        meta["csat"] = conv.csat
    out["metadata"] = meta | conv.meta
    return out


# --------------------------------------------------------------------------------------------
# sanity checks on the labels (the generator's own consistency, not the audit)
# --------------------------------------------------------------------------------------------


def is_error(content: str) -> bool:
    c = content.lstrip()
    return c.startswith("Error") or c.startswith('{"error"')


def check(conv: Conversation, out: dict[str, Any]) -> None:
    msgs = out["messages"]
    results = {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}
    seen_ok: set[tuple[str, str]] = set()
    redundant = False
    for m in msgs:
        for c in m.get("tool_calls") or []:
            key = (c["function"]["name"], c["function"]["arguments"])
            res = results.get(c["id"])
            if key in seen_ok:
                redundant = True
                if conv.mode not in ("redundant_work", "loop", "ping_pong"):
                    print("repeat:", conv.scenario, key, file=sys.stderr)
            if res is not None and not is_error(res):
                seen_ok.add(key)
    if conv.mode == "redundant_work":
        assert redundant, conv.scenario
    elif conv.mode not in ("loop", "ping_pong"):
        assert not redundant, f"{conv.scenario}: identical successful tool call repeated"
    if conv.layer == "none":
        assert "error" not in out, conv.scenario


# --------------------------------------------------------------------------------------------
# scenario content
# --------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    rng: random.Random
    first: str
    last: str
    email: str

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)


def money(x: float) -> str:
    return f"${x:,.2f}"


def nice_date(s: str) -> str:
    return datetime.strptime(s, "%Y-%m-%d").strftime("%A, %B %-d")


def items_of(o: dict[str, Any]) -> str:
    return " and ".join(i["name"].lower() for i in o["items"])


def typo(oid: str, rng: random.Random) -> str:
    i = rng.randrange(len(oid) - 1)
    swapped = oid[:i] + oid[i + 1] + oid[i] + oid[i + 2 :]
    return swapped if swapped != oid else oid[:-1] + str((int(oid[-1]) + 3) % 10)


# ShopDesk episodes ---------------------------------------------------------------------------


def shop_open(c: Ctx) -> Turn:
    return Turn(
        c.pick(
            "Hi there",
            "hello, I need some help with an order",
            "Hi! Quick question about my orders",
            "hey",
            "Good morning, I have a few issues with recent orders",
        ),
        [
            say(
                c.pick(
                    "Hi! I'm ShopDesk, Northwind Outfitters' assistant. How can I help you today?",
                    "Hello! Happy to help. What's going on with your order?",
                    "Hi there, thanks for reaching out. What can I do for you?",
                )
            )
        ],
    )


def shop_close(c: Ctx) -> Turn:
    return Turn(
        c.pick("That's everything, thanks!", "ok great thank you", "Perfect, thanks for the help.", "thanks, bye"),
        [
            say(
                c.pick(
                    "You're welcome! Have a great day.",
                    "Glad I could help. Take care!",
                    "Anytime! If anything else comes up, just message us here.",
                )
            )
        ],
    )


def shipment_summary(o: dict[str, Any]) -> Callable[[list[BaseMessage]], str]:
    def text(msgs: list[BaseMessage]) -> str:
        s = last_tool(msgs)
        if s["status"] == "DELIVERED":
            return (
                f"Order {o['order_id']} ({items_of(o)}) was delivered by {s['carrier']} on "
                f"{nice_date(s['estimated_delivery'])}. If you can't find it, check with neighbours or your "
                f"building's parcel room first."
            )
        where = "is out for delivery" if s["status"] == "OUT_FOR_DELIVERY" else "is in transit"
        return (
            f"Good news: order {o['order_id']} ({items_of(o)}) shipped with {s['carrier']} and {where}. "
            f"Last scan was in {s['last_scan']['city']}; estimated delivery is "
            f"{nice_date(s['estimated_delivery'])}. Tracking number: {s['tracking_number']}."
        )

    return text


def shop_status(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("shipped")
    return [
        Turn(
            c.pick(
                f"Can you tell me where my order {o['order_id']} is?",
                f"where is order #{o['order_id']}??",
                f"Hi, I ordered a {o['items'][0]['name'].lower()} (order {o['order_id']}), has it shipped?",
            ),
            [
                call("lookup_order", order_id=o["order_id"]),
                call("track_shipment", tracking_number=o["tracking_number"]),
                say(shipment_summary(o)),
            ],
        ),
        Turn(
            c.pick("Will someone need to sign for it?", "ok. do I need to be home?"),
            [
                say(
                    "No signature is required for this shipment, so the driver can leave it at your door or "
                    "in a safe place."
                )
            ],
        ),
    ]


def shop_wrong_number(c: Ctx) -> list[Turn]:
    o = SHOP.new_order(c.rng.choice(["shipped", "processing"]))
    bad = typo(o["order_id"], c.rng)

    def status(msgs: list[BaseMessage]) -> str:
        got = last_tool(msgs)
        if got["status"] == "processing":
            return (
                f"Found it! Order {got['order_id']} ({items_of(got)}) is being packed at our warehouse and "
                f"should ship within 1-2 business days. You'll get an email with tracking once it leaves."
            )
        return (
            f"Found it! Order {got['order_id']} ({items_of(got)}) shipped with {got['carrier']}; the tracking "
            f"number is {got['tracking_number']}."
        )

    return [
        Turn(
            c.pick(
                f"I need an update on order {bad}",
                f"status of {bad} please",
                f"Hi, my order number is {bad}, has it shipped?",
            ),
            [
                call("lookup_order", order_id=bad),
                say(
                    c.pick(
                        f"I couldn't find an order with the number {bad}. Could you double-check it? It's the "
                        f"6-digit number in your confirmation email.",
                        f"Hmm, order {bad} doesn't exist in our system. Could there be a typo? The order "
                        f"number is in the subject line of your confirmation email.",
                    )
                ),
            ],
        ),
        Turn(
            c.pick(f"Sorry, it's {o['order_id']}", f"oops, {o['order_id']}", f"my bad - {o['order_id']}"),
            [call("lookup_order", order_id=o["order_id"]), say(status)],
        ),
    ]


def shop_address_change(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("processing")
    city, state, zipc = c.rng.choice(CITIES)
    addr = f"{c.rng.randint(10, 999)} {c.rng.choice(STREETS)}, {city}, {state} {zipc}"
    return [
        Turn(
            c.pick(
                f"I just moved. Can you change the delivery address for {o['order_id']} to {addr}?",
                f"please ship order {o['order_id']} to {addr} instead",
            ),
            [
                call("lookup_order", order_id=o["order_id"]),
                call(
                    "change_shipping_address",
                    order_id=o["order_id"],
                    new_address=addr,
                    _say="It hasn't shipped yet, so I can update that for you.",
                ),
                say(
                    f"Done: order {o['order_id']} will now ship to {addr}. You'll receive an updated confirmation "
                    f"email shortly."
                ),
            ],
        )
    ]


def shop_address_locked(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("shipped")
    city, state, zipc = c.rng.choice(CITIES)
    addr = f"{c.rng.randint(10, 999)} {c.rng.choice(STREETS)}, {city}, {state} {zipc}"
    return [
        Turn(
            c.pick(
                f"Can you send order {o['order_id']} to {addr}? I won't be home next week.",
                f"Need to change the address on {o['order_id']} to {addr}",
            ),
            [
                call("change_shipping_address", order_id=o["order_id"], new_address=addr),
                say(
                    c.pick(
                        "That order has already left our warehouse, so the address can't be changed on our "
                        "side any more. I can open a case with our team to request a redirect with the carrier "
                        "- would you like me to do that?",
                        "Unfortunately it has already shipped, which locks the address. What I can do is ask "
                        "our tier-2 team to request a carrier redirect. Shall I?",
                    )
                ),
            ],
        ),
        Turn(
            c.pick("Yes please", "ok do that", "yes, thanks"),
            [
                call(
                    "escalate_to_human",
                    summary=f"Customer requests carrier redirect of shipped order {o['order_id']} to {addr}",
                    priority="normal",
                ),
                say(
                    lambda m: (
                        f"I've opened ticket {last_tool(m)['ticket_id']}; the team will reply within "
                        f"{last_tool(m)['first_response_sla_hours']} hours with the carrier's answer."
                    )
                ),
            ],
        ),
    ]


def shop_refund(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("delivered")
    item = o["items"][0]["name"].lower()
    return [
        Turn(
            c.pick(
                f"The {item} from order {o['order_id']} arrived damaged. I'd like a refund.",
                f"I want to return the {item} (order {o['order_id']}), it's not what I expected",
            ),
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                say(
                    lambda m: (
                        f"Sorry about that! Order {o['order_id']} is eligible for a full refund of "
                        f"{money(last_tool(m)['refundable_amount'])}. Shall I go ahead?"
                    )
                ),
            ],
        ),
        Turn(
            c.pick("Yes, go ahead", "yes please"),
            [
                call(
                    "issue_refund",
                    order_id=o["order_id"],
                    amount=o["total"],
                    reason="damaged item" if "damaged" in item else "customer return",
                ),
                say(
                    lambda m: (
                        f"Your refund {last_tool(m)['refund_id']} for {money(last_tool(m)['amount'])} is on "
                        f"its way; it usually shows up within 5-7 business days."
                    )
                ),
            ],
        ),
    ]


def shop_refund_window(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("delivered", days_ago=c.rng.randint(40, 70))
    return [
        Turn(
            c.pick(
                f"Can I still return order {o['order_id']}? Never wore it.",
                f"I'd like a refund for order {o['order_id']}",
            ),
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                say(
                    lambda m: (
                        f"I checked: order {o['order_id']} is {last_tool(m)['reason']}, so a refund isn't "
                        f"possible. I can offer {money(last_tool(m)['store_credit_offer'])} in store credit "
                        f"instead. Would that work?"
                    )
                ),
            ],
        ),
        Turn(
            c.pick("OK, store credit is fine", "fine, credit then"),
            [
                call("apply_store_credit", email=c.email, amount=round(o["total"] * 0.5, 2)),
                say(
                    lambda m: (
                        f"Done! {money(last_tool(m)['credited'])} of store credit is on your account "
                        f"(code {last_tool(m)['credit_code']}). It applies automatically at checkout."
                    )
                ),
            ],
        ),
    ]


def shop_refund_bad_args(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("delivered")
    item = o["items"][0]["name"].lower()
    return [
        Turn(
            c.pick(
                f"Please refund order {o['order_id']}, the {item} doesn't fit",
                f"refund for {o['order_id']} please. {item} too small",
            ),
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                call("issue_refund", order_id=o["order_id"], amount=f"{money(o['total'])} USD", reason="wrong size"),
                call("issue_refund", order_id=o["order_id"], amount=o["total"], reason="wrong size"),
                say(
                    lambda m: (
                        f"All set: refund {last_tool(m)['refund_id']} of {money(o['total'])} has been issued "
                        f"to your original payment method."
                    )
                ),
            ],
        )
    ]


def shop_tracking_retry(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("shipped")
    SHOP.flaky[("track_shipment", o["tracking_number"])] = [
        TimeoutError(f"{o['carrier']} tracking API did not respond within 10s")
    ]
    return [
        Turn(
            c.pick(f"Has {o['order_id']} shipped yet?", f"any news on order {o['order_id']}?"),
            [
                call("lookup_order", order_id=o["order_id"]),
                call("track_shipment", tracking_number=o["tracking_number"]),
                call(
                    "track_shipment",
                    tracking_number=o["tracking_number"],
                    _say="The carrier's tracking system timed out - let me try that once more.",
                ),
                say(shipment_summary(o)),
            ],
        )
    ]


def shop_find_by_email(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("shipped", days_ago=5)
    return [
        Turn(
            c.pick(
                f"I don't have my order number, it was the {o['items'][0]['name'].lower()} I bought last week",
                "I lost the confirmation email, can you find my order?",
            ),
            [say("No problem! What's the email address on your account?")],
        ),
        Turn(
            c.email,
            [
                call("search_orders_by_email", email=c.email),
                say(
                    lambda m: (
                        f"I see {last_tool(m)['count']} order(s) on {c.email}. The one from "
                        f"{nice_date(o['placed_at'])} is order {o['order_id']} ({items_of(o)}), status "
                        f"{o['status']}. Is that the one?"
                    )
                ),
            ],
        ),
        Turn(
            c.pick("Yes! When will it arrive?", "yes that's it. ETA?"),
            [call("track_shipment", tracking_number=o["tracking_number"]), say(shipment_summary(o))],
        ),
    ]


def shop_escalate(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("delivered")
    return [
        Turn(
            c.pick(f"I was charged twice for order {o['order_id']}!", f"my card shows two charges for {o['order_id']}"),
            [
                call("lookup_order", order_id=o["order_id"]),
                say(
                    f"I can see a single charge of {money(o['total'])} for order {o['order_id']} on our side, so "
                    f"the second one may be a pending authorisation. Billing disputes are handled by our human "
                    f"team - shall I escalate this to them?"
                ),
            ],
        ),
        Turn(
            c.pick("Yes please", "yes. this is annoying"),
            [
                call(
                    "escalate_to_human",
                    summary=f"Possible double charge on order {o['order_id']} ({money(o['total'])})",
                    priority="high",
                ),
                say(
                    lambda m: (
                        f"Escalated as ticket {last_tool(m)['ticket_id']} (high priority). Someone from "
                        f"billing will email you within {last_tool(m)['first_response_sla_hours']} hours."
                    )
                ),
            ],
        ),
    ]


def shop_policy(c: Ctx) -> list[Turn]:
    q, a = c.rng.choice(
        [
            (
                "What's your return policy for sale items?",
                "Sale items can be returned within 30 days of delivery for store credit; full-price items get a refund "
                "to the original payment method. Items must be unworn with tags attached.",
            ),
            (
                "Do you ship to Canada?",
                "Yes, we ship to Canada. Duties are calculated at checkout and delivery takes 5-9 business days.",
            ),
            (
                "how long do refunds take?",
                "Once a refund is issued it takes 5-7 business days to appear, depending on your bank.",
            ),
            (
                "Is the merino sweater machine washable?",
                "Yes - cold, gentle cycle, then lay flat to dry. Avoid tumble drying so it keeps its shape.",
            ),
        ]
    )
    return [Turn(q, [say(a)])]


def shop_cancel_unknown_fixed(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("processing")
    return [
        Turn(
            c.pick(
                f"Can you cancel order {o['order_id']}? I ordered the wrong size.", f"please cancel {o['order_id']}"
            ),
            [
                call("cancel_order_by_id", order_id=o["order_id"]),
                call("cancel_order", order_id=o["order_id"], reason="customer request"),
                say(
                    lambda m: (
                        f"Order {o['order_id']} is cancelled. {money(last_tool(m)['refund_amount'])} will be "
                        f"refunded to your original payment method within 5-7 business days."
                    )
                ),
            ],
        )
    ]


def shop_two_orders(c: Ctx) -> list[Turn]:
    a, b = SHOP.new_order("shipped"), SHOP.new_order("processing")

    def text(msgs: list[BaseMessage]) -> str:
        ra, rb = tool_results(msgs)
        return (
            f"Order {ra['order_id']} ({items_of(ra)}) has shipped with {ra['carrier']} (tracking "
            f"{ra['tracking_number']}). Order {rb['order_id']} ({items_of(rb)}) is still being packed and should "
            f"ship within 1-2 business days."
        )

    return [
        Turn(
            c.pick(
                f"I have two orders, {a['order_id']} and {b['order_id']} - have both shipped?",
                f"status of {a['order_id']} and {b['order_id']}?",
            ),
            [
                calls(("lookup_order", {"order_id": a["order_id"]}), ("lookup_order", {"order_id": b["order_id"]})),
                say(text),
            ],
        )
    ]


def shop_cancel(c: Ctx) -> list[Turn]:
    o = SHOP.new_order("processing", n_items=2)
    return [
        Turn(
            c.pick(
                f"I'd like to cancel order {o['order_id']}, found it cheaper elsewhere",
                f"cancel {o['order_id']} please, don't need it anymore",
            ),
            [
                call("lookup_order", order_id=o["order_id"]),
                say(
                    f"Order {o['order_id']} ({items_of(o)}, {money(o['total'])}) hasn't shipped yet, so I can "
                    f"cancel it. Do you want me to go ahead?"
                ),
            ],
        ),
        Turn(
            "yes",
            [
                call("cancel_order", order_id=o["order_id"], reason="no longer needed"),
                say(
                    lambda m: (
                        f"Cancelled. The {money(last_tool(m)['refund_amount'])} refund goes back to "
                        f"your original payment method in 5-7 business days."
                    )
                ),
            ],
        ),
    ]


SHOP_PLAIN = [
    shop_status,
    shop_address_change,
    shop_refund,
    shop_find_by_email,
    shop_escalate,
    shop_policy,
    shop_two_orders,
    shop_cancel,
]
SHOP_HANDLED = [
    shop_wrong_number,
    shop_address_locked,
    shop_refund_window,
    shop_refund_bad_args,
    shop_tracking_retry,
    shop_cancel_unknown_fixed,
]


# SkyHelp episodes ----------------------------------------------------------------------------


@dataclass
class SkyCtx(Ctx):
    booking: dict[str, Any] = field(default_factory=dict)
    verified: bool = False

    @property
    def code(self) -> str:
        return self.booking["confirmation_code"]


def sky_open(c: SkyCtx) -> Turn:
    return Turn(
        c.pick("Hi", "Hello, I need help with my flight", "hi there - question about my booking", "Good evening"),
        [
            say(
                c.pick(
                    "Hi, I'm SkyHelp, Skyline Air's virtual agent. How can I help?",
                    "Hello! I can help with bookings, changes, seats, bags and refunds. What do you need?",
                    "Welcome to Skyline Air support. What can I do for you today?",
                )
            )
        ],
    )


def sky_close(c: SkyCtx) -> Turn:
    return Turn(
        c.pick("That's all, thank you", "thanks a lot!", "great, thanks", "Perfect. Bye!"),
        [
            say(
                c.pick(
                    "You're welcome - have a great flight!",
                    "Happy to help. Safe travels!",
                    "Anytime. Enjoy your trip with Skyline Air!",
                )
            )
        ],
    )


def booking_summary(msgs: list[BaseMessage]) -> str:
    b = last_tool(msgs)
    segs = "; ".join(
        f"{s['flight_number']} {s['from']}-{s['to']} on {nice_date(s['date'])} at {s['departs']} (seat {s['seat']})"
        for s in b["segments"]
    )
    return (
        f"Thanks, {b['passenger']['first_name']}. I found booking {b['confirmation_code']} ({b['fare_family']} "
        f"fare): {segs}. What would you like to do?"
    )


def sky_verify(c: SkyCtx) -> list[Turn]:
    """Identify the booking (once per conversation)."""
    c.verified = True
    return [
        Turn(
            c.pick(
                f"My confirmation code is {c.code}, last name {c.last}",
                f"booking {c.code}, {c.first} {c.last}",
                f"{c.code} / {c.last}",
            ),
            [call("get_booking", confirmation_code=c.code, last_name=c.last), say(booking_summary)],
        )
    ]


def sky_verify_wrong_name(c: SkyCtx) -> list[Turn]:
    c.verified = True
    wrong = c.last[:-2] + c.last[-1] + c.last[-2] if len(c.last) > 3 else c.last + "e"
    return [
        Turn(
            c.pick(f"Booking {c.code}, name {wrong}", f"code {c.code} last name {wrong}"),
            [
                call("get_booking", confirmation_code=c.code, last_name=wrong),
                say(
                    f"I couldn't find booking {c.code} under the last name {wrong}. Could you check the spelling "
                    f"of the last name exactly as it appears on the ticket?"
                ),
            ],
        ),
        Turn(
            c.pick(f"Oh sorry, it's {c.last}", f"{c.last}, autocorrect..."),
            [call("get_booking", confirmation_code=c.code, last_name=c.last), say(booking_summary)],
        ),
    ]


def sky_status(c: SkyCtx) -> list[Turn]:
    s = c.booking["segments"][0]
    f = SKY.flights[(s["flight_number"], s["date"])]
    if c.rng.random() < 0.4:
        f["status"], f["delay"] = "DELAYED", c.rng.choice([25, 40, 70])

    def text(msgs: list[BaseMessage]) -> str:
        r = last_tool(msgs)
        if r.get("delay_minutes"):
            return (
                f"{r['flight_number']} on {nice_date(r['date'])} is currently delayed by about {r['delay_minutes']}"
                f" minutes (scheduled {r['departs']}), departing from gate {r['gate']}. I'll keep the booking as "
                f"is; your connection, if any, is protected."
            )
        return f"{r['flight_number']} is on time: departs {r['departs']} from gate {r['gate']}, arrives {r['arrives']}."

    return [
        Turn(
            c.pick(f"Is {s['flight_number']} on time?", f"status of my flight {s['flight_number']} on {s['date']}?"),
            [call("get_flight_status", flight_number=s["flight_number"], date=s["date"]), say(text)],
        )
    ]


def sky_status_retry(c: SkyCtx) -> list[Turn]:
    s = c.booking["segments"][-1]
    SKY.flaky[("get_flight_status", s["flight_number"])] = [
        "Error: upstream flight-information feed timed out (504 Gateway Timeout)"
    ]
    return [
        Turn(
            c.pick(
                f"What gate does {s['flight_number']} leave from?",
                f"Can you check {s['flight_number']} for {s['date']}?",
            ),
            [
                call("get_flight_status", flight_number=s["flight_number"], date=s["date"]),
                call(
                    "get_flight_status",
                    flight_number=s["flight_number"],
                    date=s["date"],
                    _say="The flight-information service is slow right now; trying again.",
                ),
                say(
                    lambda m: (
                        f"{last_tool(m)['flight_number']} is {last_tool(m)['status'].replace('_', ' ').lower()}"
                        f", departing {last_tool(m)['departs']} from gate {last_tool(m)['gate']}."
                    )
                ),
            ],
        )
    ]


def sky_change(c: SkyCtx, sold_out: bool = False) -> list[Turn]:
    s = c.booking["segments"][0]
    alts = [SKY.flight(s["from"], s["to"], s["date"], hour=h) for h in c.rng.sample(range(6, 21), 3)]
    alts.sort(key=lambda f: f["departs"])
    first, second = alts[0], alts[1]
    db = SKY
    turns = [
        Turn(
            c.pick(
                f"Can I switch to an earlier flight on {nice_date(s['date'])}?",
                f"Is there anything earlier from {s['from']} to {s['to']} that day?",
            ),
            [
                call("search_flights", origin=s["from"], destination=s["to"], date=s["date"]),
                say(
                    lambda m: (
                        "Here are the options that day: "
                        + "; ".join(
                            f"{r['flight_number']} at {r['departs']} (arrives {r['arrives']})"
                            for r in last_tool(m)["results"]
                            if r["flight_number"] != s["flight_number"]
                        )
                        + ". Which one would you like?"
                    )
                ),
            ],
        ),
        Turn(
            c.pick(f"The {first['departs']} one please", f"{first['flight_number']}"),
            [call("change_flight", confirmation_code=c.code, new_flight_number=first["flight_number"])],
            # the last seats in the fare class sell while the customer decides
            before=(lambda: db.sold_out.add(first["flight_number"])) if sold_out else None,
        ),
    ]
    done = say(
        lambda m: (
            f"Done - you're now on {last_tool(m)['changed']['to']} departing {last_tool(m)['departs']} on "
            f"{nice_date(last_tool(m)['date'])}. The change fee is ${last_tool(m)['change_fee']}, "
            f"charged to the card on file."
        )
    )
    if not sold_out:
        turns[-1].steps.append(done)
        return turns
    turns[-1].steps.append(
        say(
            f"Sorry - {first['flight_number']} just sold out in your fare class. "
            f"{second['flight_number']} at {second['departs']} still has seats. Want that one?"
        )
    )
    turns.append(
        Turn(
            c.pick("ok, that works", "Fine, book that"),
            [call("change_flight", confirmation_code=c.code, new_flight_number=second["flight_number"]), done],
        )
    )
    return turns


def sky_change_sold_out(c: SkyCtx) -> list[Turn]:
    return sky_change(c, sold_out=True)


def sky_seat(c: SkyCtx) -> list[Turn]:
    s = c.booking["segments"][0]
    row = c.rng.randint(10, 30)
    for f in list(SKY.flights.values()):
        if (f["origin"], f["destination"], f["date"]) == (s["from"], s["to"], s["date"]):
            SKY.taken.add((f["flight_number"], f"{row}A"))
    return [
        Turn(
            c.pick(f"Can I get a window seat, like {row}A?", f"I'd like seat {row}A please"),
            [
                call("select_seat", confirmation_code=c.code, seat=f"{row}A"),
                say(
                    f"{row}A is already taken, unfortunately. {row}F is a window seat in the same row and "
                    f"{row + 2}A is free too - which would you prefer?"
                ),
            ],
        ),
        Turn(
            f"{row}F then",
            [
                call("select_seat", confirmation_code=c.code, seat=f"{row}F"),
                say(
                    lambda m: (
                        f"You're in {row}F on {last_tool(m)['flight_number']}. Seat fee: ${last_tool(m)['seat_fee']}."
                    )
                ),
            ],
        ),
    ]


def sky_bags(c: SkyCtx, bad_args: bool = False) -> list[Turn]:
    steps = []
    if bad_args:
        steps.append(call("add_baggage", confirmation_code=c.code, bags="two"))
    steps += [
        call("add_baggage", confirmation_code=c.code, bags=2),
        say(
            lambda m: (
                f"Added 2 checked bags to {c.code} for ${last_tool(m)['price']} in total (both "
                f"directions). You'll see them on your boarding pass."
            )
        ),
    ]
    return [Turn(c.pick("I need to add two checked bags", "can I add 2 suitcases to my booking?"), steps)]


def sky_bags_bad_args(c: SkyCtx) -> list[Turn]:
    return sky_bags(c, bad_args=True)


def sky_claim(c: SkyCtx) -> list[Turn]:
    tag = f"{c.rng.choice(['SK', '0016'])}{c.rng.randint(100000, 999999)}"
    desc = c.rng.choice(
        [
            "black hard-shell suitcase, medium, red ribbon on handle",
            "navy duffel bag with white stripes",
            "grey spinner suitcase with a Canada sticker",
        ]
    )
    return [
        Turn(
            c.pick("My bag didn't arrive on my last flight", "my luggage is missing!!"),
            [
                say(
                    "I'm sorry! Could you give me the bag tag number (on the sticker you got at check-in) and a "
                    "short description of the bag?"
                )
            ],
        ),
        Turn(
            f"tag {tag}, {desc}",
            [
                call("file_baggage_claim", tag_number=tag, description=desc),
                say(
                    lambda m: (
                        f"I've filed claim {last_tool(m)['claim_id']}. The bag was last seen at "
                        f"{last_tool(m)['last_seen']} and we're tracing it now. You can spend up to "
                        f"${last_tool(m)['interim_expense_allowance_usd']} on essentials; keep the receipts."
                    )
                ),
            ],
        ),
    ]


def sky_refund_credit(c: SkyCtx) -> list[Turn]:
    return [
        Turn(
            c.pick(
                "I can't travel anymore, can I get a refund?", "need to cancel the whole trip and get my money back"
            ),
            [
                call("request_refund", confirmation_code=c.code, reason="passenger cannot travel"),
                say(
                    lambda m: (
                        f"Your ticket is non-refundable ({last_tool(m)['reason']}), but I can cancel it and "
                        f"give you ${last_tool(m)['travel_credit_available']} in travel credit valid for a year. "
                        f"Should I do that?"
                    )
                ),
            ],
        ),
        Turn(
            c.pick("ok, do the credit", "yes, the credit then"),
            [
                call("issue_travel_credit", confirmation_code=c.code),
                say(
                    lambda m: (
                        f"Done: credit {last_tool(m)['credit_id']} for ${last_tool(m)['credit_amount']}, "
                        f"valid until {nice_date(last_tool(m)['expires'])}. The booking is cancelled."
                    )
                ),
            ],
        ),
    ]


def sky_ticket(c: SkyCtx) -> list[Turn]:
    return [
        Turn(
            c.pick(
                "I want to complain about how the crew handled my wheelchair request",
                "The wifi didn't work on my 6 hour flight, I want compensation",
            ),
            [
                call(
                    "open_support_ticket",
                    subject=c.pick(
                        "Complaint: special assistance request not honoured",
                        "Compensation request: inflight wifi outage",
                    ),
                    priority="normal",
                ),
                say(
                    lambda m: (
                        f"I'm sorry about that. I've opened case {last_tool(m)['case_id']} with customer "
                        f"relations; they'll reply within {last_tool(m)['response_within']}."
                    )
                ),
            ],
        )
    ]


def sky_faq(c: SkyCtx) -> list[Turn]:
    q, a = c.rng.choice(
        [
            (
                "What's the carry-on size limit?",
                "Carry-on bags can be up to 22 x 14 x 9 in (56 x 36 x 23 cm), plus one "
                "personal item that fits under the seat.",
            ),
            (
                "Can I bring my cat in the cabin?",
                "Yes, small cats and dogs can travel in the cabin in a soft carrier under "
                "the seat, for a $125 fee each way. Please add the pet at least 48 hours "
                "before departure.",
            ),
            (
                "When does check-in open?",
                "Online check-in opens 24 hours before departure and closes 45 minutes before "
                "(60 minutes for international flights).",
            ),
        ]
    )
    return [Turn(q, [say(a)])]


def sky_unknown_fixed(c: SkyCtx) -> list[Turn]:
    return [
        Turn(
            c.pick("How many bags are included in my fare?", "what's my baggage allowance?"),
            [
                call("get_baggage_allowance", confirmation_code=c.code),
                call("get_fare_rules", fare_basis=c.booking["fare_basis"]),
                say(
                    f"Your {c.booking['fare_family']} fare ({c.booking['fare_basis']}) includes one carry-on and "
                    f"one personal item; checked bags are {'one free' if c.booking['fare_family'] == 'Flex' else '$35 each per direction'}."
                ),
            ],
        )
    ]


SKY_PLAIN = [sky_status, sky_change, sky_bags, sky_claim, sky_ticket, sky_faq]
SKY_HANDLED = [sky_status_retry, sky_change_sold_out, sky_seat, sky_bags_bad_args, sky_unknown_fixed]


# --------------------------------------------------------------------------------------------
# conversations: clean ones composed from episodes, failing ones written out
# --------------------------------------------------------------------------------------------


def new_shop_ctx(rng: random.Random, today: datetime) -> Ctx:
    global SHOP
    SHOP = ShopDB(rng, today)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(['gmail.com', 'outlook.com', 'icloud.com', 'proton.me'])}"
    SHOP.email = email
    SHOP.profiles[email] = {
        "email": email,
        "name": f"{first} {last}",
        "loyalty_tier": rng.choice(["standard", "silver", "gold"]),
        "spend": rng.randint(80, 4000),
    }
    for _ in range(rng.randint(1, 3)):  # older orders on the account
        SHOP.new_order("delivered", days_ago=rng.randint(60, 400))
    return Ctx(rng, first, last, email)


def new_sky_ctx(rng: random.Random, today: datetime, fare: str | None = None) -> SkyCtx:
    global SKY
    SKY = SkyDB(rng, today)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    booking = SKY.new_booking(
        last,
        first,
        days_out=rng.randint(2, 20),
        round_trip=rng.random() < 0.75,
        fare=fare or rng.choice(["Basic", "Main", "Main", "Flex"]),
    )
    return SkyCtx(rng, first, last, f"{first.lower()}@example.com", booking=booking)


def clean_shop(rng: random.Random, today: datetime, n_plain: int, n_handled: int, greet: bool = True) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    eps = rng.sample(SHOP_PLAIN, n_plain) + rng.sample(SHOP_HANDLED, n_handled)
    rng.shuffle(eps)
    turns = [shop_open(c)] if greet else []
    for ep in eps:
        turns += ep(c)
    return turns + ([shop_close(c)] if greet or rng.random() < 0.5 else [])


def clean_sky(rng: random.Random, today: datetime, n_plain: int, n_handled: int, greet: bool = True) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = [sky_open(c)] if greet else []
    turns += sky_verify_wrong_name(c) if rng.random() < 0.35 else sky_verify(c)
    while True:
        eps = rng.sample(SKY_PLAIN, n_plain) + rng.sample(SKY_HANDLED, n_handled)
        if not any(
            pair <= set(eps)
            for pair in (
                {sky_change, sky_change_sold_out},
                {sky_status, sky_status_retry},
                {sky_bags, sky_bags_bad_args},
            )
        ):
            break
    rng.shuffle(eps)
    # a flight change comes after the requests about the booked flights (status, seat)
    eps.sort(key=lambda e: e in (sky_change, sky_change_sold_out))
    for ep in eps:
        turns += ep(c)
    if c.booking["fare_family"] != "Flex" and rng.random() < 0.3:
        turns += sky_refund_credit(c)  # cancels the trip: always the last request
    return turns + ([sky_close(c)] if greet or rng.random() < 0.5 else [])


# failing (or redundant) ShopDesk conversations ----------------------------------------------


def shop_prefix(c: Ctx, n: int) -> list[Turn]:
    turns = [shop_open(c)]
    for ep in c.rng.sample([shop_status, shop_policy, shop_address_change, shop_two_orders], n):
        turns += ep(c)
    return turns


def f_shop_unhandled_gateway(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("delivered")
    SHOP.raise_on[("issue_refund", o["order_id"])] = PaymentGatewayError(
        f"Stripe refund failed for charge ch_3P{rng.getrandbits(40):x}: charge_disputed "
        f"(a dispute is open on this charge)"
    )
    return [
        *shop_prefix(c, 2),
        Turn(
            f"I returned the {o['items'][0]['name'].lower()} from order {o['order_id']} two weeks ago and still no refund",
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                say(
                    f"Sorry for the wait! Order {o['order_id']} qualifies for a full refund of {money(o['total'])}. "
                    f"Shall I issue it now?"
                ),
            ],
        ),
        Turn(
            "Yes please, finally",
            [
                call("issue_refund", order_id=o["order_id"], amount=o["total"], reason="returned item"),
                say(
                    "I'm sorry, something went wrong on our side and I wasn't able to process the refund. "
                    "Please try again later or contact us by email."
                ),
            ],
        ),
        Turn(
            "Seriously? So I just don't get my money back?",
            [
                say(
                    "I understand how frustrating this is, and I'm sorry. I'm not able to complete the refund from "
                    "this chat right now."
                )
            ],
        ),
        Turn("Unbelievable. I'm disputing it with my bank.", [say("I'm sorry again for the trouble.")]),
    ]


def f_shop_silent_big_refund(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("delivered", n_items=4)
    o["items"][0].update(name="Espresso machine Pro", price=489.0)
    o["total"] = round(sum(i["price"] for i in o["items"]) + 6.95, 2)
    return [
        *shop_prefix(c, 1),
        Turn(
            f"Everything in order {o['order_id']} arrived broken. I want a full refund.",
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                say(
                    f"I'm so sorry! Order {o['order_id']} is eligible for a full refund of {money(o['total'])}. "
                    f"Shall I go ahead?"
                ),
            ],
        ),
        Turn(
            "yes",
            [
                call("issue_refund", order_id=o["order_id"], amount=o["total"], reason="items arrived broken"),
                say(
                    f"Done! Your refund of {money(o['total'])} has been processed and will appear on your statement "
                    f"within 5-7 business days."
                ),
            ],
        ),
        Turn("Great, thank you", [say("You're welcome! Sorry again about the damaged delivery.")]),
    ]


def f_shop_silent_address(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("shipped")
    city, state, zipc = rng.choice(CITIES)
    addr = f"{rng.randint(10, 999)} {rng.choice(STREETS)}, {city}, {state} {zipc}"
    return [
        *shop_prefix(c, 2),
        Turn(
            f"Please change the shipping address of order {o['order_id']} to {addr}, I'm moving tomorrow",
            [
                call("change_shipping_address", order_id=o["order_id"], new_address=addr),
                say(f"All set! Order {o['order_id']} will be delivered to {addr}."),
            ],
        ),
        Turn("Awesome, thanks!", [say("You're welcome, good luck with the move!")]),
    ]


def f_shop_no_retry(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("shipped")
    SHOP.flaky[("track_shipment", o["tracking_number"])] = [
        TimeoutError(f"{o['carrier']} tracking API did not respond within 10s")
    ]
    return [
        *shop_prefix(c, 1),
        Turn(
            f"It's been a week, where is order {o['order_id']}? I need it for a birthday on Saturday",
            [
                call("lookup_order", order_id=o["order_id"]),
                call("track_shipment", tracking_number=o["tracking_number"]),
                say("Tracking information isn't available at the moment. Please check back later."),
            ],
        ),
        Turn(
            "That doesn't help me at all. Will it arrive by Saturday or not?",
            [say("I'm sorry, I can't tell right now. Please check the tracking link in your shipping email later.")],
        ),
    ]


def f_shop_retries_exhausted(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("delivered")
    SHOP.flaky[("issue_refund", o["order_id"])] = [
        ConnectionError("payment gateway connection reset by peer") for _ in range(3)
    ]
    return [
        *shop_prefix(c, 1),
        Turn(
            f"I'd like a refund for order {o['order_id']}, the {o['items'][0]['name'].lower()} is defective",
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                call("issue_refund", order_id=o["order_id"], amount=o["total"], reason="defective item"),
                call(
                    "issue_refund",
                    order_id=o["order_id"],
                    amount=o["total"],
                    reason="defective item",
                    _say="The payment system had a hiccup, let me try again.",
                ),
                call(
                    "issue_refund",
                    order_id=o["order_id"],
                    amount=o["total"],
                    reason="defective item",
                    _say="Still not going through - one more try.",
                ),
                say(
                    "I'm sorry, the payment system keeps failing, so I couldn't issue the refund. Please try again "
                    "tomorrow."
                ),
            ],
        ),
        Turn("so annoying", [say("I completely understand, and I apologise for the inconvenience.")]),
    ]


def f_shop_unknown_cancel(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("processing")
    return [
        *shop_prefix(c, 1),
        Turn(
            f"Please cancel order {o['order_id']} before it ships!",
            [
                call("cancel_order_by_id", order_id=o["order_id"]),
                call("cancel_order_by_id", order_id=o["order_id"], _say="One moment."),
                say(
                    "I'm sorry, I'm not able to cancel orders from this chat. You can refuse the delivery when it "
                    "arrives and we'll refund you once it's back at our warehouse."
                ),
            ],
        ),
        Turn(
            "What? It hasn't even shipped. Why can't you cancel it?",
            [say("I understand the frustration. Unfortunately cancelling isn't something I can do here.")],
        ),
        Turn("Useless.", [say("I'm sorry I couldn't help more.")]),
    ]


def f_shop_bad_amount(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("delivered")
    amount = f"{o['total']} USD"
    return [
        *shop_prefix(c, 2),
        Turn(
            f"Refund order {o['order_id']} please, wrong colour",
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                call("issue_refund", order_id=o["order_id"], amount=amount, reason="wrong colour"),
                call("issue_refund", order_id=o["order_id"], amount=amount, reason="wrong colour"),
                say("I'm having trouble processing refunds right now. Could you reach out again later?"),
            ],
        ),
        Turn("ok...", [say("Sorry about that! Anything else I can help with?")]),
    ]


def f_shop_bad_json(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("processing")
    city, state, zipc = rng.choice(CITIES)
    addr = f"{rng.randint(10, 999)} {rng.choice(STREETS)}, {city}, {state} {zipc}"
    raw = '{"order_id": "' + o["order_id"] + '", "new_address": "' + addr.replace(",", '", "', 1)
    return [
        *shop_prefix(c, 1),
        Turn(
            f"Please update the address on order {o['order_id']} to {addr}",
            [bad_json_call("change_shipping_address", raw)],
        ),
        Turn("hello? did that work?", [bad_json_call("change_shipping_address", raw)]),
        Turn("Is anyone there??", [bad_json_call("change_shipping_address", raw)]),
        Turn("forget it, I'll call", [say("Sorry for the trouble! Is there anything else I can help you with?")]),
    ]


def f_shop_overflow_bulk(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    SHOP.bulk_accounts.add(c.email)
    for _ in range(150):
        SHOP.new_order(
            rng.choice(["delivered", "delivered", "shipped"]), days_ago=rng.randint(3, 700), n_items=rng.randint(1, 3)
        )
    return [
        shop_open(c),
        *shop_policy(c),
        Turn(
            "We're a small cafe and order a lot from you. Can you find the mugs order from last month? "
            "I don't have the number.",
            [say("Sure! What's the email on the business account?")],
        ),
        Turn(c.email, [call("search_orders_by_email", email=c.email), say("(unreachable)")]),
    ]


def f_shop_overflow_paste(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("delivered")
    lines = []
    for k in range(42):
        who = rng.choice([f"{c.first} {c.last} <{c.email}>", "Northwind Support <help@northwind.example>"])
        lines.append(
            f"On {(today - timedelta(days=60 - k)).strftime('%a, %b %d, %Y')} at {rng.randint(8, 19)}:"
            f"{rng.randint(10, 59)}, {who} wrote:\n> "
            + " ".join(
                rng.choice(
                    [
                        "order",
                        o["order_id"],
                        "refund",
                        "still",
                        "nothing",
                        "please",
                        "the",
                        "item",
                        "broken",
                        "we",
                        "apologise",
                        "for",
                        "delay",
                        "label",
                        "attached",
                        "return",
                        "warehouse",
                        "received",
                        "credit",
                        "card",
                        "statement",
                        "escalated",
                        "case",
                        "team",
                    ]
                )
                for _ in range(60)
            )
        )
    paste = "Here is the whole email thread so you understand:\n\n" + "\n\n".join(lines)
    return [
        shop_open(c),
        Turn(
            f"I've been going back and forth about order {o['order_id']} for two months",
            [
                call("lookup_order", order_id=o["order_id"]),
                say(
                    f"I'm sorry to hear that. I can see order {o['order_id']} ({items_of(o)}) was delivered. What is "
                    f"still open?"
                ),
            ],
        ),
        Turn(paste, [say("(unreachable)")]),
    ]


def f_shop_loop_tracking(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("shipped")
    return [
        *shop_prefix(c, 1),
        Turn(
            f"Is order {o['order_id']} out for delivery yet?",
            [
                call("lookup_order", order_id=o["order_id"]),
                Forever(call("track_shipment", tracking_number=o["tracking_number"])),
            ],
        ),
        Turn(
            "What does that mean? Is it out for delivery or not?",
            [Forever(call("track_shipment", tracking_number=o["tracking_number"]))],
        ),
    ]


def f_shop_loop_repeat(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("delivered")
    same = "I understand your concern. Let me look into that for you."
    asks = [
        f"My refund for order {o['order_id']} never arrived",
        "ok?",
        "Did you find anything?",
        "Hello?? What about my refund?",
        "You keep saying the same thing",
        "Can I talk to a human please",
    ]
    return [shop_open(c)] + [Turn(a, [say(same)]) for a in asks]


def f_shop_lost_state(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    del SHOP.profiles[c.email]["loyalty_tier"]  # account migrated from the old shop: no tier yet
    SHOP.profiles[c.email]["tier"] = None
    o = SHOP.new_order("delivered", days_ago=50)
    return [
        *shop_prefix(c, 1),
        Turn(
            f"Can I return order {o['order_id']}?",
            [
                call("check_return_eligibility", order_id=o["order_id"]),
                say(
                    lambda m: (
                        f"Order {o['order_id']} is {last_tool(m)['reason']}, but I can offer "
                        f"{money(last_tool(m)['store_credit_offer'])} in store credit. Want it?"
                    )
                ),
            ],
        ),
        Turn(
            "Yes",
            [
                call("apply_store_credit", email=c.email, amount=round(o["total"] * 0.5, 2)),
                say("Sorry, I wasn't able to add the store credit to your account. Please contact us by email."),
            ],
        ),
        Turn("Why not? You just offered it.", [say("I apologise - I'm unable to apply it from here.")]),
    ]


def r_shop_repeat_lookup(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    turns = [shop_open(c)]
    first = shop_status(c)
    o_id = first[0].steps[0](None).tool_calls[0]["args"]["order_id"]
    o = SHOP.orders[o_id]
    turns += first + shop_policy(c) + shop_refund_window(c)
    turns.append(
        Turn(
            "Sorry, what was the tracking number of the first order again?",
            [
                call("lookup_order", order_id=o_id),
                say(f"The tracking number for order {o_id} is {o['tracking_number']} ({o['carrier']})."),
            ],
        )
    )
    return [*turns, shop_close(c)]


def r_shop_repeat_search(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    turns = [shop_open(c), *shop_find_by_email(c), *shop_escalate(c)]
    turns.append(
        Turn(
            "How many orders have I placed with you in total?",
            [
                call("search_orders_by_email", email=c.email),
                say(lambda m: f"You've placed {last_tool(m)['count']} orders with us under {c.email}."),
            ],
        )
    )
    return [*turns, shop_close(c)]


# failing (or redundant) SkyHelp conversations -----------------------------------------------


def sky_prefix(c: SkyCtx, n: int, status: bool = True) -> list[Turn]:
    turns = [sky_open(c), *sky_verify(c)]
    for ep in c.rng.sample([sky_status, sky_faq, sky_bags, sky_ticket][0 if status else 1 :], n):
        turns += ep(c)
    return turns


def f_sky_unhandled_change(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today, fare="Main")
    SKY.raise_on[("change_flight", c.code)] = ZeroDivisionError("division by zero")
    turns = sky_prefix(c, 1) + sky_change(c)
    turns[-1].steps.pop()  # the change raises: nothing after the tool call runs
    return turns


def f_sky_unhandled_claim(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = sky_prefix(c, 1) + sky_claim(c)
    tag = turns[-1].steps[0](None).tool_calls[0]["args"]["tag_number"]
    SKY.raise_on[("file_baggage_claim", tag)] = ClaimsServiceError(
        "claims backend WorldTracer returned HTTP 502 for POST /ahl (record not created)"
    )
    turns[-1].steps.pop()
    return turns


def f_sky_silent_change(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today, fare="Main")
    turns = sky_prefix(c, 1) + sky_change(c)
    target = turns[-1].steps[0](None).tool_calls[0]["args"]["new_flight_number"]
    db = SKY
    turns[-1].before = lambda: db.sold_out.add(target)
    turns[-1].steps[-1] = say(f"Done - you're now on {target}. Your updated itinerary is on its way by email.")
    return [*turns, sky_close(c)]


def f_sky_no_retry(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    SKY.down["get_booking"] = (
        "Error: 503 Service Unavailable - reservation system (PSS) temporarily unavailable, retry later"
    )
    return [
        sky_open(c),
        Turn(
            f"I need to change my flight, booking {c.code}, last name {c.last}",
            [
                call("get_booking", confirmation_code=c.code, last_name=c.last),
                say("I'm unable to access bookings right now. Please call our reservations line at 1-800-555-0199."),
            ],
        ),
        Turn(
            "The hold time on the phone is 2 hours, that's why I'm here",
            [say("I'm sorry about that. Bookings can't be accessed from this chat at the moment.")],
        ),
    ]


def f_sky_retries_exhausted(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    s = c.booking["segments"][0]
    turns = sky_prefix(c, 1, status=False)
    db = SKY

    def outage() -> None:
        db.flaky[("get_flight_status", s["flight_number"])] = [
            "Error: upstream flight-information feed timed out (504 Gateway Timeout)" for _ in range(3)
        ]

    turns.append(
        Turn(
            f"Is {s['flight_number']} going to leave on time? I have a tight connection.",
            before=outage,
            steps=[
                call("get_flight_status", flight_number=s["flight_number"], date=s["date"]),
                call(
                    "get_flight_status",
                    flight_number=s["flight_number"],
                    date=s["date"],
                    _say="The flight-information service timed out; retrying.",
                ),
                call(
                    "get_flight_status",
                    flight_number=s["flight_number"],
                    date=s["date"],
                    _say="Still timing out, one last attempt.",
                ),
                say(
                    "I'm sorry, I can't get the flight status right now. Please check the departures board "
                    "at the airport."
                ),
            ],
        )
    )
    turns.append(Turn("Not helpful, I'm not at the airport yet", [say("I understand, I'm sorry.")]))
    return turns


def f_sky_unknown_rebook(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    s = c.booking["segments"][0]
    alt = SKY.flight(s["from"], s["to"], s["date"], hour=7)
    return [
        *sky_prefix(c, 1),
        Turn(
            f"Can you put me on {alt['flight_number']} instead? It leaves earlier.",
            [
                call("rebook_passenger", confirmation_code=c.code, flight_number=alt["flight_number"]),
                say(f"You're rebooked on {alt['flight_number']} departing at {alt['departs']}. Have a good flight!"),
            ],
        ),
        Turn(
            "Thanks! Will I get a new boarding pass by email?",
            [say("Yes, your new boarding pass will be emailed to you 24 hours before departure.")],
        ),
    ]


def f_sky_unknown_transfer(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    return [
        *sky_prefix(c, 2),
        Turn(
            "I'd like to speak to a human agent about a medical certificate for my refund",
            [
                call("transfer_to_human_agent", reason="medical refund request", confirmation_code=c.code),
                say("Sure, I'm transferring you to a human agent now. Please hold."),
            ],
        ),
        Turn("hello? still waiting", [say("Thanks for your patience. An agent will be with you shortly.")]),
        Turn(
            "It's been 20 minutes. Is anyone coming?",
            [say("Thanks for your patience. An agent will be with you shortly.")],
        ),
    ]


def f_sky_bad_args_missing(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = sky_prefix(c, 1) + sky_change(c)
    fn = turns[-1].steps[0](None).tool_calls[0]["args"]["new_flight_number"]
    turns[-1].steps = [
        call("change_flight", confirmation_code=c.code, flight_number=fn),
        call("change_flight", confirmation_code=c.code, flight=fn),
        say("I'm sorry, I couldn't change your flight. Please call reservations to make the change."),
    ]
    turns.append(
        Turn("Why? You just showed me the flight.", [say("I apologise, I'm unable to make that change here.")])
    )
    return turns


def f_sky_bad_args_pretend(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = sky_prefix(c, 1)
    turns.append(
        Turn(
            "Add two checked bags to my booking please",
            [
                call("add_baggage", confirmation_code=c.code, bags="two"),
                say(f"Done! Two checked bags have been added to {c.code}."),
            ],
        )
    )
    return [*turns, sky_close(c)]


def f_sky_overflow_rules(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today, fare="Basic")
    SKY.fare_rules_pages = 3
    return [
        *sky_prefix(c, 1),
        Turn(
            "What exactly are the change rules on my ticket? I want the full fare rules.",
            [call("get_fare_rules", fare_basis=c.booking["fare_basis"]), say("(unreachable)")],
        ),
    ]


def f_sky_loop_status(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    s = c.booking["segments"][0]
    return [
        *sky_prefix(c, 1),
        Turn(
            f"Which gate will {s['flight_number']} board from?",
            [Forever(call("get_flight_status", flight_number=s["flight_number"], date=s["date"]))],
        ),
        Turn("??", [Forever(call("get_flight_status", flight_number=s["flight_number"], date=s["date"]))]),
    ]


def f_sky_loop_repeat(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    same = "I'm sorry for the inconvenience. Is there anything else I can help you with today?"
    asks = [
        "My flight was cancelled and I was rebooked for tomorrow. I need a hotel voucher.",
        "Yes, the hotel voucher",
        "Can you issue the voucher or not?",
        "Hello?",
        "This is absurd",
        "I want compensation for the cancellation",
    ]
    return sky_prefix(c, 0) + [Turn(a, [say(same)]) for a in asks]


def f_sky_lost_state(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = sky_prefix(c, 1)
    booking = c.booking
    # the codeshare segment is re-synced from the partner airline meanwhile: the fare family is dropped
    turns.append(
        Turn(
            "Can you add one checked bag?",
            [call("add_baggage", confirmation_code=c.code, bags=1)],
            before=lambda: booking.pop("fare_family"),
        )
    )
    return turns


def r_sky_repeat_booking(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = [sky_open(c), *sky_verify(c), *sky_status(c), *sky_faq(c)]
    turns.append(
        Turn(
            "Which seat am I in on the first flight?",
            [
                call("get_booking", confirmation_code=c.code, last_name=c.last),
                say(
                    lambda m: (
                        f"You're in seat {last_tool(m)['segments'][0]['seat']} on "
                        f"{last_tool(m)['segments'][0]['flight_number']}."
                    )
                ),
            ],
        )
    )
    return turns + sky_bags(c) + [sky_close(c)]


def r_sky_repeat_search(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = [sky_open(c), *sky_verify(c)]
    s = c.booking["segments"][0]
    turns += sky_change(c)  # searches the same route and date
    turns += sky_seat(c)
    turns.append(
        Turn(
            "Out of curiosity, what were the other flights that day?",
            [
                call("search_flights", origin=s["from"], destination=s["to"], date=s["date"]),
                say(
                    lambda m: (
                        "The flights that day: "
                        + ", ".join(f"{r['flight_number']} at {r['departs']}" for r in last_tool(m)["results"])
                        + "."
                    )
                ),
            ],
        )
    )
    return [*turns, sky_close(c)]


# two-agent desks: one legitimate handoff; agents bouncing the customer --------------------


def bounce(agents: tuple[str, str]) -> Spec:
    """Hand the customer to the other agent (the one not holding the conversation now)."""

    def spec(msgs: list[BaseMessage]) -> AIMessage:
        current = agents[0]
        for m in reversed(msgs):
            if isinstance(m, ToolMessage) and str(m.content).startswith("Successfully transferred to "):
                current = str(m.content).rsplit(" ", 1)[1]
                break
        other = agents[1] if current == agents[0] else agents[0]
        return AIMessage(content="", tool_calls=[{"name": f"transfer_to_{other}", "args": {}, "id": ""}])

    return spec


def h_shop_handoff(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    turns = [shop_open(c), *shop_status(c), *shop_address_change(c)]
    o = SHOP.new_order("delivered")
    item = o["items"][0]["name"].lower()
    return [
        *turns,
        Turn(
            f"One more thing: the {item} from order {o['order_id']} arrived broken, I'd like my money back",
            [
                call(
                    "transfer_to_billing_specialist",
                    _say="Refunds are handled by our billing specialist - transferring you now.",
                ),
                call("check_return_eligibility", order_id=o["order_id"]),
                say(
                    lambda m: (
                        f"Hi, billing here. I'm sorry about the {item}! Order {o['order_id']} qualifies for a "
                        f"full refund of {money(last_tool(m)['refundable_amount'])}. Shall I issue it?"
                    )
                ),
            ],
        ),
        Turn(
            "Yes please",
            [
                call("issue_refund", order_id=o["order_id"], amount=o["total"], reason="arrived broken"),
                say(
                    lambda m: (
                        f"Refund {last_tool(m)['refund_id']} for {money(o['total'])} is issued; expect it in "
                        f"5-7 business days."
                    )
                ),
            ],
        ),
        shop_close(c),
    ]


def h_sky_handoff(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    turns = [sky_open(c), *sky_verify(c), *sky_seat(c)]
    claim = sky_claim(c)
    claim[0].steps.insert(0, call("transfer_to_baggage_desk", _say="Let me bring in our baggage desk."))
    return turns + claim + sky_bags(c) + [sky_close(c)]


def p_shop_ping_pong(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_shop_ctx(rng, today)
    o = SHOP.new_order("shipped")
    agents = ("shopdesk_assistant", "billing_specialist")
    return [
        shop_open(c),
        *shop_policy(c),
        Turn(
            f"Order {o['order_id']} went to my old address. Can you refund the shipping and send a new one to "
            f"my current address?",
            [
                bounce(agents),
                bounce(agents),
                bounce(agents),
                bounce(agents),
                say("Sorry for the wait! Could you tell me what you need help with?"),
            ],
        ),
        Turn(
            "I JUST told you. Refund the shipping and resend the order.",
            [
                bounce(agents),
                bounce(agents),
                bounce(agents),
                say("I'm sorry, this isn't something I can help with. Please contact the ShopDesk assistant."),
            ],
        ),
        Turn("You are the ShopDesk assistant?! Unbelievable.", [say("I apologise for the confusion.")]),
    ]


def p_sky_ping_pong(rng: random.Random, today: datetime) -> list[Turn]:
    c = new_sky_ctx(rng, today)
    agents = ("skyhelp_agent", "baggage_desk")
    return [
        sky_open(c),
        *sky_verify(c),
        Turn(
            "My suitcase came back damaged and I'd like to move my return flight to get it repaired first",
            [Forever(bounce(agents))],
        ),
    ]


# --------------------------------------------------------------------------------------------

FAILING: list[tuple[str, str, str, str, bool, Callable[..., list[Turn]], bool | None, dict[str, Any]]] = [
    # scenario, app, layer, mode, failed, builder, eval_passed, model overrides
    (
        "shop_refund_gateway_error_gives_up",
        "shop",
        "recovery",
        "unhandled_error",
        True,
        f_shop_unhandled_gateway,
        False,
        {},
    ),
    (
        "sky_change_flight_zero_division_crash",
        "sky",
        "recovery",
        "unhandled_error",
        True,
        f_sky_unhandled_change,
        None,
        {},
    ),
    (
        "sky_baggage_claim_service_error_crash",
        "sky",
        "recovery",
        "unhandled_error",
        True,
        f_sky_unhandled_claim,
        False,
        {},
    ),
    (
        "shop_refund_over_limit_claimed_done",
        "shop",
        "recovery",
        "silent_failure",
        True,
        f_shop_silent_big_refund,
        False,
        {},
    ),
    (
        "shop_address_locked_claimed_changed",
        "shop",
        "recovery",
        "silent_failure",
        True,
        f_shop_silent_address,
        False,
        {},
    ),
    ("sky_fare_sold_out_claimed_rebooked", "sky", "recovery", "silent_failure", True, f_sky_silent_change, False, {}),
    ("shop_tracking_timeout_not_retried", "shop", "recovery", "no_retry", True, f_shop_no_retry, False, {}),
    ("sky_reservations_503_not_retried", "sky", "recovery", "no_retry", True, f_sky_no_retry, False, {}),
    (
        "shop_refund_connection_reset_x3",
        "shop",
        "recovery",
        "retries_exhausted",
        True,
        f_shop_retries_exhausted,
        False,
        {},
    ),
    ("sky_flight_status_504_x3", "sky", "recovery", "retries_exhausted", True, f_sky_retries_exhausted, False, {}),
    ("shop_tracking_recursion_limit", "shop", "routing", "loop", True, f_shop_loop_tracking, None, {}),
    ("sky_flight_status_recursion_limit", "sky", "routing", "loop", True, f_sky_loop_status, False, {}),
    ("shop_same_reply_six_times", "shop", "routing", "loop", True, f_shop_loop_repeat, False, {}),
    ("sky_same_reply_six_times", "sky", "routing", "loop", True, f_sky_loop_repeat, False, {}),
    ("shop_cancel_order_by_id_unknown", "shop", "routing", "unknown_tool", True, f_shop_unknown_cancel, False, {}),
    ("sky_rebook_passenger_unknown", "sky", "routing", "unknown_tool", True, f_sky_unknown_rebook, False, {}),
    ("sky_transfer_to_human_unknown", "sky", "routing", "unknown_tool", True, f_sky_unknown_transfer, False, {}),
    ("shop_refund_amount_string_twice", "shop", "handoff", "invalid_tool_args", True, f_shop_bad_amount, False, {}),
    ("shop_address_malformed_json_args", "shop", "handoff", "invalid_tool_args", True, f_shop_bad_json, False, {}),
    ("sky_change_flight_missing_field", "sky", "handoff", "invalid_tool_args", True, f_sky_bad_args_missing, False, {}),
    (
        "sky_bags_string_count_claimed_done",
        "sky",
        "handoff",
        "invalid_tool_args",
        True,
        f_sky_bad_args_pretend,
        False,
        {},
    ),
    (
        "shop_bulk_order_history_overflow",
        "shop",
        "state",
        "context_overflow",
        True,
        f_shop_overflow_bulk,
        False,
        {"model": "gpt-4-0613", "window": 8192},
    ),
    (
        "shop_pasted_email_thread_overflow",
        "shop",
        "state",
        "context_overflow",
        True,
        f_shop_overflow_paste,
        None,
        {"model": "gpt-3.5-turbo-0613", "window": 4096},
    ),
    (
        "sky_full_fare_rules_overflow",
        "sky",
        "state",
        "context_overflow",
        True,
        f_sky_overflow_rules,
        False,
        {"model": "gpt-4-0613", "window": 8192},
    ),
    ("shop_store_credit_missing_tier", "shop", "state", "lost_state", True, f_shop_lost_state, False, {}),
    ("sky_add_bag_codeshare_missing_fare_family", "sky", "state", "lost_state", True, f_sky_lost_state, False, {}),
    ("shop_billing_and_support_bounce", "shop", "routing", "ping_pong", True, p_shop_ping_pong, False, {"desk": True}),
    ("sky_baggage_and_flights_bounce", "sky", "routing", "ping_pong", True, p_sky_ping_pong, None, {"desk": True}),
    ("shop_handoff_to_billing", "shop", "none", "none", False, h_shop_handoff, True, {"desk": True}),
    ("sky_handoff_to_baggage_desk", "sky", "none", "none", False, h_sky_handoff, True, {"desk": True}),
    ("shop_lookup_same_order_again", "shop", "state", "redundant_work", False, r_shop_repeat_lookup, True, {}),
    ("shop_search_same_email_again", "shop", "state", "redundant_work", False, r_shop_repeat_search, True, {}),
    ("sky_get_booking_again", "sky", "state", "redundant_work", False, r_sky_repeat_booking, True, {}),
    ("sky_search_flights_again", "sky", "state", "redundant_work", False, r_sky_repeat_search, True, {}),
]

# clean conversations: (app, plain episodes, handled-error episodes, greet)
CLEAN_SHAPES = (
    [("shop", 3, 2, True)] * 6
    + [("shop", 2, 2, True)] * 5
    + [("shop", 4, 1, True)] * 4
    + [("shop", 2, 3, True)] * 3
    + [("shop", 1, 1, False)] * 2
    + [("shop", 0, 1, False)]
    + [("sky", 3, 2, True)] * 6
    + [("sky", 2, 2, True)] * 5
    + [("sky", 4, 1, True)] * 3
    + [("sky", 2, 3, True)] * 3
    + [("sky", 1, 1, False)] * 2
    + [("sky", 0, 1, False)]
)


def build_all(rng: random.Random) -> Iterator[Conversation]:
    """Each conversation's fake backend is built with its turns: run it before taking the next."""
    day0 = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    for k, (app, n_plain, n_handled, greet) in enumerate(CLEAN_SHAPES):
        today = day0 + timedelta(hours=5 * k + rng.randint(0, 3), minutes=rng.randint(0, 59))
        turns = (clean_shop if app == "shop" else clean_sky)(rng, today, n_plain, n_handled, greet)
        verdict = rng.random() < 0.9  # most transcripts carry a judge verdict
        yield Conversation(
            f"{app}_clean_{k:02d}",
            app,
            "none",
            "none",
            False,
            turns,
            True if verdict else None,
            rng.choice([4, 5, 5]) if verdict else None,
            today=today,
        )
    for k, (name, app, layer, mode, failed, builder, ep, over) in enumerate(FAILING):
        today = day0 + timedelta(hours=5 * k + 2, minutes=rng.randint(0, 59))
        turns = builder(rng, today)
        yield Conversation(
            name,
            app,
            layer,
            mode,
            failed,
            turns,
            ep,
            None if ep is None else (rng.choice([1, 2]) if ep is False else 5),
            model=over.get("model", "gpt-4o-mini-2024-07-18"),
            window=over.get("window", 128_000),
            today=today,
            desk=over.get("desk", False),
        )


EXPECTED_ERROR = {"context_overflow": "BadRequestError"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rng = random.Random(20260302)
    lines: list[str] = []
    labels: list[dict[str, str]] = []
    stats: list[tuple[str, int, int, str]] = []
    for index, conv in enumerate(build_all(rng)):
        out = run_conversation(conv, index, rng)
        check(conv, out)
        err = out.get("error", {}).get("type", "")
        if conv.mode in EXPECTED_ERROR:
            assert err == EXPECTED_ERROR[conv.mode], (conv.scenario, err)
        lines.append(json.dumps(out, ensure_ascii=False))
        labels.append(
            {
                "framework": FRAMEWORK,
                "scenario": conv.scenario,
                "trace_id": out["id"],
                "layer": conv.layer,
                "mode": conv.mode if conv.layer != "none" else "none",
                "failed": "true" if conv.failed else "false",
            }
        )
        n_assistant = sum(1 for m in out["messages"] if m["role"] == "assistant")
        n_user = sum(1 for m in out["messages"] if m["role"] == "user")
        stats.append((conv.scenario, n_user, n_assistant, err))
    args.out.mkdir(parents=True, exist_ok=True)
    spans_path = args.out / f"{FRAMEWORK}.jsonl.gz"
    with spans_path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(("\n".join(lines) + "\n").encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LABEL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(labels)
    (args.out / f"{FRAMEWORK}.labels.csv").write_text(buf.getvalue())
    summary: dict[str, int] = {}
    for row in labels:
        key = f"{row['layer']}/{row['mode']}"
        summary[key] = summary.get(key, 0) + 1
    clean = [s for s, lab in zip(stats, labels, strict=True) if lab["layer"] == "none"]
    print(
        json.dumps(
            {
                "framework": FRAMEWORK,
                "conversations": len(labels),
                "by_label": summary,
                "clean_with_10plus_assistant_turns": sum(1 for s in clean if s[2] >= 10),
                "clean": len(clean),
            },
            indent=1,
        )
    )
    if os.environ.get("CHAT_CORPUS_VERBOSE"):
        for s in stats:
            print(*s, sep="\t", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
