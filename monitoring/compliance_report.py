"""Rendering :class:`~monitoring.compliance.Compliance` as Markdown and HTML (same sections)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

from monitoring.compliance import Compliance

Table = tuple[list[str], list[list[str]]]


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _share(n: int, total: int) -> str:
    return f"{n:,} ({n / total:.1%})" if total else f"{n:,}"


def sections(c: Compliance) -> list[tuple[str, list[str], Table | None]]:
    """(title, paragraphs, table) per section."""
    out: list[tuple[str, list[str], Table | None]] = []
    period = f"{c.start:%Y-%m-%d %H:%M} to {c.end:%Y-%m-%d %H:%M} UTC (end excluded)"
    notes = [f"Period: {period}. Predictions logged: {c.decisions:,}."]
    if c.unreadable:
        notes.append(f"{c.unreadable:,} traffic line(s) could not be read (corrupt, or encrypted "
                     "without LOAN_DATA_KEY_FILE) and are not counted.")  # fmt: skip
    out.append(("Scope", notes, None))
    rows = [[k, _share(v, c.decisions)] for k, v in sorted(c.by_category.items())]
    out.append(("Decisions by risk category", [], (["risk category", "decisions"], rows)))
    text = []
    if c.without_decision:
        text.append(f"{c.without_decision:,} of {c.decisions:,} lines carry no `decision` field "
                    "(logged by a release before decisions were recorded): they are shown as "
                    "'not recorded' and left out of the approval rates below.")  # fmt: skip
    rows = [[k, _share(v, c.decisions)] for k, v in sorted(c.by_decision.items())]
    out.append(("Decisions by decision", text, (["decision", "decisions"], rows)))
    rows = [[k, f"{v:,}"] for k, v in sorted(c.by_model.items())]
    out.append(("Decisions by model version", [], (["model version", "decisions"], rows)))
    text = [f"Approval rate = share of logged decisions that are 'approve'. Adverse impact ratio "
            f"= a group's approval rate / the most favoured group's; below {c.air_threshold} "
            "(four-fifths rule) is flagged. Small groups are shown but not judged."]  # fmt: skip
    rows = [[r["attribute"], r["group"], f"{r['n']:,}", _f(r["approval_rate"]),
             _f(r["adverse_impact_ratio"]),
             "FLAG" if r["flagged"] else ("small group" if r["small"] else "ok")]
            for r in c.fairness]  # fmt: skip
    if not rows:
        text.append("No decision with a recorded `decision` in the period: nothing to measure.")
    head = ["attribute", "group", "n", "approval rate", "adverse impact ratio", "verdict"]
    out.append(("Approval rates and adverse impact at the decision", text, (head, rows)))
    rows = []
    for w in c.windows:
        for s in w.segments:
            rows.append([w.window_id, s.model_version, f"{s.records:,}", _f(s.drift_score, 2),
                         ", ".join(s.drifted_features) or "-", _f(s.score_psi),
                         _f(s.labelled.auc if s.labelled else None), _f(s.estimated_auc),
                         ", ".join(t.trigger for t in w.triggers) or "-"])  # fmt: skip
    text = [] if rows else ["No monitoring window ended in the period."]
    head = ["window", "model", "records", "drift score", "drifted fields", "score PSI",
            "labelled AUC", "estimated AUC", "triggers"]  # fmt: skip
    out.append(("Drift and performance (monitoring windows)", text, (head, rows)))
    rows = [[str(e.get("time", ""))[:19], str(e.get("event")), str(e.get("subject", "")),
             _details(e)] for e in c.events]  # fmt: skip
    text = [] if rows else ["No model change, approval or control event in the period."]
    out.append(("Model changes and approvals (audit trail)", text,
                (["time (UTC)", "event", "by", "details"], rows)))  # fmt: skip
    verdict = {True: "INTACT", False: "TAMPERED", None: "NOT CHECKED"}[c.audit_ok]
    out.append(("Audit chain verification", [f"{verdict}: {c.audit_summary}"], None))
    return out


def _details(entry: dict[str, Any]) -> str:
    skip = {"seq", "time", "prev", "hash", "event", "subject", "stream"}
    parts = [f"{k}={v}" for k, v in sorted(entry.items()) if k not in skip and v is not None]
    return "; ".join(parts)[:300]


def title(c: Compliance) -> str:
    """``Compliance report FROM to TO``, both days included."""
    last = c.end - timedelta(microseconds=1)
    return f"Compliance report {c.start:%Y-%m-%d} to {last:%Y-%m-%d}"


def render_markdown(c: Compliance) -> str:
    lines = [f"# {title(c)}", ""]
    for name, text, table in sections(c):
        lines += [f"## {name}", ""]
        lines += [part for paragraph in text for part in (paragraph, "")]
        if table is not None and table[1]:
            head, rows = table
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.bad{color:#b3261e;font-weight:600}
.good{color:#1e7e34;font-weight:600}td{overflow-wrap:anywhere;max-width:40em}"""


def _cell(text: str) -> str:
    if text in ("FLAG", "TAMPERED") or text.startswith("TAMPERED"):
        return f'<span class="bad">{escape(text)}</span>'
    return escape(text)


def render_html(c: Compliance) -> str:
    heading = title(c)
    body = []
    for name, text, table in sections(c):
        body.append(f"<h2>{escape(name)}</h2>")
        for p in text:
            css = ""
            if name == "Audit chain verification":
                css = ' class="good"' if c.audit_ok else ' class="bad"'
            code = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(p))
            body.append(f"<p{css}>{code}</p>")
        if table is not None and table[1]:
            head, rows = table
            cells = "".join(f"<th>{escape(h)}</th>" for h in head)
            trs = "".join("<tr>" + "".join(f"<td>{_cell(x)}</td>" for x in r) + "</tr>"
                          for r in rows)  # fmt: skip
            body.append(f"<table><tr>{cells}</tr>{trs}</table>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(heading)}'
            f"</title><style>{_CSS}</style></head><body><h1>{escape(heading)}</h1>\n"
            + "\n".join(body) + "\n</body></html>\n")  # fmt: skip


def write(c: Compliance, folder: Path) -> tuple[Path, Path]:
    """``compliance-<from>-<to>.md`` and ``.html`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"compliance-{c.start:%Y%m%d}-{c.end - timedelta(microseconds=1):%Y%m%d}"
    md, html = folder / f"{stem}.md", folder / f"{stem}.html"
    for path, text in ((md, render_markdown(c)), (html, render_html(c))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return md, html
