"""Reading the curl examples of a Markdown document, and comparing what they print with
what the document shows, apart from what differs on every run (ids, timestamps, cursors,
dates, request ids). The convention is described at the end of specs/tour.md."""

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

OUTPUT_KINDS = frozenset({"json", "http", "text"})
_OPENING_FENCE = re.compile(r"^```([^`\s]*)")
_CLOSING_FENCE = re.compile(r"^```\s*$")
_CURL = re.compile(r"\bcurl\b")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)
_UUID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
_TIMESTAMP = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
# Opaque, and built from a timestamp and an id: compared like them, by first appearance.
_CURSOR_KEY = "next_cursor"
# Header values that differ on every request; only their presence is compared.
# An ETag is a hash of a body holding ids and times, so it differs with them.
_UNCOMPARED_HEADERS = {"date": "<date>", "x-request-id": "<request id>", "etag": "<etag>"}


@dataclass(frozen=True)
class Block:
    """A fenced block: its info string (`sh`, `json`, ...), its text, and where its lines
    are (0-based: `start` is the first line inside the fences, `end` the closing fence)."""

    info: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Step:
    """A ```sh block that runs curl, and the block after it: what it prints."""

    location: str
    command: Block
    output: Block

    @property
    def where(self) -> str:
        """The document and the line of the command's opening fence."""
        return f"{self.location}:{self.command.start}"

    @property
    def summary(self) -> str:
        first = next(line for line in self.command.text.splitlines() if _CURL.search(line))
        return first.strip().removesuffix("\\").strip()

    @property
    def assigned(self) -> list[str]:
        """The shell variables the step sets."""
        return _ASSIGNMENT.findall(self.command.text)


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order (fences at the start of a line)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    opened: tuple[str, int] | None = None
    for index, line in enumerate(lines):
        if opened is None:
            fence = _OPENING_FENCE.match(line)
            if fence:
                opened = (fence.group(1), index + 1)
        elif _CLOSING_FENCE.match(line):
            info, start = opened
            blocks.append(Block(info, "\n".join(lines[start:index]), start, index))
            opened = None
    if opened is not None:
        pytest.fail(f"line {opened[1]}: a ``` block that is never closed")
    return blocks


def document_steps(document: Path, location: str | None = None) -> list[Step]:
    """The curl steps of `document`, each with its output block."""
    location = location or document.name
    blocks = fenced_blocks(document.read_text())
    steps = []
    for index, block in enumerate(blocks):
        if block.info != "sh" or not _CURL.search(block.text):
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is None or following.info not in OUTPUT_KINDS:
            pytest.fail(
                f"{location}:{block.start}: a curl example must be followed by its output, "
                f"in a block marked one of {', '.join(sorted(OUTPUT_KINDS))}"
            )
        steps.append(Step(location, block, following))
    return steps


class Normaliser:
    """Replaces ids, timestamps and cursors by labels numbered in order of first
    appearance (`<id 1>`, `<time 2>`), so that two runs compare equal when the same values
    recur in the same places, whatever the values."""

    def __init__(self) -> None:
        self._labels: dict[tuple[str, str], str] = {}
        self._counts: Counter[str] = Counter()

    def label(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._labels:
            self._counts[kind] += 1
            self._labels[key] = f"<{kind} {self._counts[kind]}>"
        return self._labels[key]

    def in_terms_of(self, other: "Normaliser", output: str) -> str:
        """`output`, seen by this normaliser, with each id, timestamp and cursor replaced
        by the value `other` saw under the same label, where it saw one."""
        theirs = {label: value for (_, value), label in other._labels.items()}
        for (_, value), label in self._labels.items():
            if label in theirs:
                output = output.replace(value, theirs[label])
        return output

    def text(self, text: str) -> str:
        text = _UUID.sub(lambda match: self.label("id", match.group().lower()), text)
        return _TIMESTAMP.sub(lambda match: self.label("time", match.group()), text)

    def json(self, value: Any, key: str | None = None) -> Any:
        """A JSON value with its strings normalised; object keys in sorted order, so the
        labels do not depend on the order of the fields."""
        if isinstance(value, dict):
            return {name: self.json(value[name], name) for name in sorted(value)}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.label("cursor", value) if key == _CURSOR_KEY else self.text(value)
        return value


def clean(output: str) -> str:
    """Output as a document shows it: `\\n` line ends, no trailing spaces, no blank lines
    at either end."""
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _json_values(text: str) -> list[Any]:
    """The JSON values in `text`, one after the other (as `curl` prints several)."""
    decoder = json.JSONDecoder()
    values = []
    position = 0
    text = text.strip()
    while position < len(text):
        value, position = decoder.raw_decode(text, position)
        values.append(value)
        while position < len(text) and text[position].isspace():
            position += 1
    return values


def _render_json(text: str, normaliser: Normaliser) -> str:
    try:
        values = _json_values(text)
    except ValueError:
        return "(not JSON)\n" + normaliser.text(text)
    # Dumped, not compared as Python objects, so that `true` never equals `1`.
    return "\n".join(
        json.dumps(normaliser.json(value), indent=2, ensure_ascii=False) for value in values
    )


def _render_http(text: str, normaliser: Normaliser) -> str:
    head, _, body = text.partition("\n\n")
    status, *header_lines = head.split("\n")
    headers = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    headers.sort(key=lambda header: header[0])
    rendered = [status.strip()]
    for name, value in headers:
        shown = _UNCOMPARED_HEADERS.get(name) or normaliser.text(value)
        rendered.append(f"{name}: {shown}")
    content_type = dict(headers).get("content-type", "")
    rendered.append("")
    if "json" in content_type and body.strip():
        rendered.append(_render_json(body, normaliser))
    else:
        rendered.append(normaliser.text(body))
    return "\n".join(rendered)


def render(kind: str, output: str, normaliser: Normaliser) -> str:
    """`output` of a block marked `kind` in a form to compare: normalised, and for JSON
    independent of spacing and of the order of object keys."""
    output = clean(output)
    if kind == "json":
        return _render_json(output, normaliser)
    if kind == "http":
        return _render_http(output, normaliser)
    return normaliser.text(output)


def compare(
    step: Step, actual: str, expected_side: Normaliser, actual_side: Normaliser
) -> str | None:
    """None when the step printed what its output block shows; otherwise the difference
    (normalised) and what it printed. Each side keeps its own labels across a document."""
    kind = step.output.info
    expected = render(kind, step.output.text, expected_side)
    got = render(kind, actual, actual_side)
    if expected == got:
        return None
    difference = difflib.unified_diff(
        expected.split("\n"), got.split("\n"), "document", "server", lineterm=""
    )
    return "\n".join(difference) + "\n--- the server's output, as printed:\n" + clean(actual)


def write_outputs(document: Path, outputs: dict[Step, str]) -> None:
    """Put the actual output of each step in `outputs` into its output block."""
    lines = document.read_text().split("\n")
    for step in sorted(outputs, key=lambda step: step.output.start, reverse=True):
        lines[step.output.start : step.output.end] = clean(outputs[step]).split("\n")
    document.write_text("\n".join(lines))


def configuration_table(readme: str) -> dict[str, str]:
    """The README's configuration table: each variable and the text of its default."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.finditer(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", section, re.MULTILINE)
    return {row.group(1): row.group(2).strip() for row in rows}


def documented_default(text: str, default: object) -> bool:
    """Whether a default as the table shows it (`unset`, `empty`, `` `10` ``, `P30D`) is
    `default`."""
    shown = text.strip("`")
    if default is None:
        return shown in {"unset", "auto"}
    if default == []:
        return shown == "empty"
    if isinstance(default, bool):  # as an operator types it
        return shown == str(default).lower()
    if isinstance(default, timedelta):  # as an operator types it: ISO 8601
        return TypeAdapter(timedelta).validate_python(shown) == default
    return shown == str(default)
