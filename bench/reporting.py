"""Small reporting helpers shared by the benchmarks: aligned text tables and JSON + CSV output.

    from bench.reporting import format_table, print_table, write_json_csv, mean_std

- ``format_table(rows, columns=None, title=None, floatfmt=".4g")``: rows are dicts (or sequences
  with ``columns`` naming them); numbers are right-aligned, text left-aligned.
- ``write_json_csv(stem, records, meta=None)``: ``stem.json`` holds ``{"meta": ..., "records": ...}``
  and ``stem.csv`` the records, one per row (columns: union of the records' keys, in first-seen
  order; nested values are written as JSON text). Returns the two paths.
- ``mean_std(values)``: (mean, sample std) ignoring NaN; ``fmt_mean_std`` renders "m ± s".

No third-party imports beyond numpy, so the demo can reuse it anywhere.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_table", "print_table", "write_json_csv", "mean_std", "fmt_mean_std", "to_jsonable"]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if _is_number(value):
        v = float(value)
        if math.isnan(v):
            return "nan"
        return format(v, floatfmt)
    return str(value)


def format_table(
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[str] | None = None,
    title: str | None = None,
    floatfmt: str = ".4g",
    headers: Mapping[str, str] | None = None,
) -> str:
    """An aligned plain-text table.

    ``rows``: dicts (missing keys print as '-') or sequences (then ``columns`` is required).
    ``columns``: which keys, in order (default: union of the dicts' keys, first-seen order).
    ``headers``: optional display names for columns. Numbers are right-aligned.
    """
    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            if not isinstance(row, Mapping):
                raise ValueError("format_table: give `columns` when rows are sequences")
            for key in row:
                if key not in columns:
                    columns.append(key)
    columns = list(columns)
    headers = dict(headers or {})
    table: list[list[str]] = []
    numeric = [True] * len(columns)
    for row in rows:
        values = [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)
        if len(values) != len(columns):
            raise ValueError(f"format_table: row has {len(values)} values for {len(columns)} columns")
        for j, v in enumerate(values):
            if v is not None and not _is_number(v):
                numeric[j] = False
        table.append([_cell(v, floatfmt) for v in values])
    head = [headers.get(c, c) for c in columns]
    widths = [max([len(h)] + [len(r[j]) for r in table]) for j, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if numeric[j] else c.ljust(w) for j, (c, w) in pairs]
        return "  ".join(parts).rstrip()

    out = []
    if title:
        out.append(title)
    out.append(line(head))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in table)
    return "\n".join(out)


def print_table(rows, columns=None, title=None, floatfmt=".4g", headers=None) -> str:
    """Print ``format_table(...)`` followed by a blank line; returns the text."""
    text = format_table(rows, columns=columns, title=title, floatfmt=floatfmt, headers=headers)
    print(text + "\n", flush=True)
    return text


def to_jsonable(value: Any) -> Any:
    """Tensors, numpy values, tuples, Paths and dataclass-like objects to plain JSON values."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if hasattr(value, "detach") and hasattr(value, "tolist"):  # torch.Tensor
        return to_jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN / inf
    return value


def write_json_csv(stem: str | Path, records: Sequence[Mapping[str, Any]], meta: Mapping | None = None):
    """Write ``stem.json`` ({"meta", "records"}) and ``stem.csv`` (records); returns (json_path, csv_path)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path = stem.with_name(stem.name + ".json")
    csv_path = stem.with_name(stem.name + ".csv")
    records = [to_jsonable(r) for r in records]
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump({"meta": to_jsonable(meta or {}), "records": records}, f, indent=1)
        f.write("\n")
    columns: list[str] = []
    for r in records:
        for key in r:
            if key not in columns:
                columns.append(key)
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in records:
            writer.writerow([_csv_cell(r.get(c)) for c in columns])
    return json_path, csv_path


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else value


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """(mean, sample std with ddof=1) of the finite values; std is 0 for one value, NaN for none."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_mean_std(values: Iterable[float], fmt: str = ".4g") -> str:
    m, s = mean_std(values)
    return f"{format(m, fmt)} ± {format(s, fmt)}"
