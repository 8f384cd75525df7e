"""What every framework generator shares: record one scenario at a time with the real
OpenTelemetry SDK, write the spans as OTLP JSON Lines (one export request per trace, the
SDK's own protobuf encoder plus protobuf's JSON mapping, as a collector's file exporter
writes them) and the expected outcome of each trace.

Runs inside a framework's own virtual environment (``tests/frameworks/<fw>/requirements.txt``),
never the app's: the app does not need these packages. Only the standard library and the
OpenTelemetry SDK are imported here.

Labels (``<fw>.labels.csv``): ``framework, scenario, trace_id, layer, mode, failed``.
``layer``/``mode`` name the finding the trace must produce (``none``/``none`` for a clean run,
which must produce no medium or high finding); ``failed`` is whether the run must be judged
failed (its primary finding then belongs to ``layer``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

LAYERS = ("handoff", "state", "routing", "recovery", "none")
LABEL_COLUMNS = ("framework", "scenario", "trace_id", "layer", "mode", "failed")


@dataclass
class Corpus:
    """Scenarios of one framework, recorded into one OTLP JSON Lines file and a labels file."""

    framework: str
    service: str = "corpus-app"
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    lines: list[str] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": self.service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def record(self, scenario: str, layer: str, mode: str, failed: bool, run: Callable[[], Any]) -> None:
        """Run one scenario (exceptions are part of the scenario) and label every trace it wrote.

        A scenario should write exactly one trace; one that writes none is an error of the
        generator, not of the audit.
        """
        assert layer in LAYERS, layer
        self.exporter.clear()
        try:
            run()
        except Exception:  # failed runs are what the corpus records
            if layer == "none":
                raise RuntimeError(f"clean scenario {scenario} raised:\n{traceback.format_exc()}") from None
        self.provider.force_flush()
        spans = list(self.exporter.get_finished_spans())
        by_trace: dict[int, list[Any]] = {}
        for s in spans:
            by_trace.setdefault(s.context.trace_id, []).append(s)
        if len(by_trace) != 1:
            raise RuntimeError(f"scenario {scenario} wrote {len(by_trace)} traces; expected exactly one")
        for trace_id, trace_spans in by_trace.items():
            self.lines.append(MessageToJson(encode_spans(trace_spans), indent=None))
            self.labels.append({"framework": self.framework, "scenario": scenario, "trace_id": f"{trace_id:032x}",
                                "layer": layer, "mode": mode if layer != "none" else "none",
                                "failed": "true" if failed else "false"})

    def write(self, out: Path) -> tuple[Path, Path]:
        """``<out>/<framework>.otlp.jsonl.gz`` (reproducible bytes) and ``<out>/<framework>.labels.csv``."""
        out.mkdir(parents=True, exist_ok=True)
        spans_path = out / f"{self.framework}.otlp.jsonl.gz"
        with spans_path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(("\n".join(self.lines) + "\n").encode())
        labels_path = out / f"{self.framework}.labels.csv"
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=LABEL_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.labels)
        labels_path.write_text(buf.getvalue())
        summary = {}
        for row in self.labels:
            key = f"{row['layer']}/{row['mode']}"
            summary[key] = summary.get(key, 0) + 1
        print(json.dumps({"framework": self.framework, "traces": len(self.labels), "by_label": summary}, indent=1))
        return spans_path, labels_path
