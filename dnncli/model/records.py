"""Predictions written out in the formats ``dnn predict`` has, one record at a time: csv and
jsonl as each record comes (a pipe sees the first at once), json at the end, the table's records
returned for the caller to render. Files (images) and a table's rows share it."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, TextIO


def stream_records(
    records: Iterable[Any],
    output_format: str,
    out: TextIO,
    on_failure: Callable[[str], None],
    *,
    failure: type | tuple[type, ...],
    csv_header: str,
    csv_row: Callable[[Any], str],
) -> tuple[int, int, list[Any]]:
    """``(records, failures, the table's records)``; a record of type ``failure`` goes to
    ``on_failure`` (its ``message``), the others to ``out``: csv through ``csv_header`` and
    ``csv_row``, jsonl and json through their ``as_dict()``."""
    kept: list[Any] = []
    total = failures = 0
    if output_format == "csv":
        out.write(csv_header)
    for record in records:
        total += 1
        if isinstance(record, failure):
            failures += 1
            on_failure(record.message)
        elif output_format == "csv":
            out.write(csv_row(record))
        elif output_format == "jsonl":
            out.write(json.dumps(record.as_dict(), default=str) + "\n")
        else:
            kept.append(record)
    if output_format == "json":
        out.write(json.dumps([r.as_dict() for r in kept], indent=2, default=str) + "\n")
    return total, failures, kept if output_format == "table" else []
