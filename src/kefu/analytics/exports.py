"""Any report as CSV or XLSX: the summary, the series, a breakdown, churn risk or terms."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from kefu.analytics.filters import Filters
from kefu.analytics.metrics import report

REPORTS = (
    "summary",
    "series",
    "team",
    "agent",
    "channel",
    "kind",
    "tier",
    "tag",
    "churn",
    "terms",
)


def table(f: Filters, names: dict[str, dict[Any, str]], what: str) -> list[list[Any]]:
    if what == "churn":
        from kefu.analytics.views import _churn

        rows = _churn(f, limit=1000)
        return [["customer", "value", "orders", "contacts_90d", "segment", "score", "reasons"]] + [
            [
                str(r["customer"]),
                float(r["value"]),
                r["orders"],
                r["contacts_90d"],
                str(r["segment"]),
                r["score"],
                "; ".join(str(x) for x in r["reasons"]),
            ]
            for r in rows
        ]
    if what == "terms":
        from kefu.analytics.terms import trending

        data = trending(f.end, limit=200)
        return [["term", "conversations", "baseline", "score", "new"]] + [
            [t["term"], t["count"], t["baseline"], t["score"], t["baseline"] == 0]
            for t in data["rising"]
        ]
    rep = report(f, names)
    if what == "series":
        s = rep.series
        head = ["period", "created", "resolved", "backlog", "frt_median", "csat"]
        return [head] + [
            [s[k][i] if k != "period" else s["labels"][i] for k in head]
            for i in range(len(s["labels"]))
        ]
    if what in ("team", "agent", "channel", "kind", "tier", "tag"):
        items = rep.breakdowns[what]
        keys = ["label"] + [k for k in (items[0] if items else {}) if k not in ("label", "value")]
        return [keys] + [[str(i[k]) if k == "label" else i[k] for k in keys] for i in items]
    fig = rep.figures
    return [["figure", "value"]] + [[k, v] for k, v in fig.items()]


def respond(f: Filters, names: dict[str, dict[Any, str]], what: str, fmt: str) -> HttpResponse:
    if what not in REPORTS:
        what = "summary"
    rows = table(f, names, what)
    stamp = timezone.localdate().isoformat()
    filename = f"kefu-{what}-{f.start}-{f.end}-{stamp}"
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = what
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
        return response
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese correctly only with a BOM
    csv.writer(out).writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
