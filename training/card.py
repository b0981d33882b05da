"""The model card: one document per registered version, in the spirit of SR 11-7 and model cards.

:class:`CardFacts` gathers what is known of a version (its stored metadata, read as a plain
dict so fields added by later releases, such as the decision policy and the fairness table at
the decision, appear when present and read "not recorded" when not; its MLflow tags, e.g. the
approvals; the reason-code mapping; the validation report and calibration plot kept with it).
:func:`render_markdown` and :func:`render_html` turn it into the card; the HTML embeds the
calibration plot, so the page is one self-contained file an examiner can be sent.

Written at registration into the Bento model's folder (``card/``) and logged to the MLflow
run (``model_card/``); ``loanctl models card VERSION`` writes it again with the approvals of
the day (:mod:`training.card_facts`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from loan_default.aliases import APPROVALS_TAG, STATUS_TAG
from loan_default.training_metrics import METRICS, TrainingMetrics

NOT_RECORDED = "not recorded"
CARD_DIR = "card"
"""Folder of the card inside the Bento model's folder (and the MLflow artifact path)."""
CALIBRATION_PNG = "calibration.png"
VALIDATION_JSON = "validation_report.json"

PURPOSE = (
    "Estimates the probability that a consumer loan applicant defaults, calibrated so that "
    "the probability can be read as a default rate. It supports an underwriter's or an "
    "automated approve / refer / decline decision on a new application; it is not a pricing, "
    "collections or marketing model."
)
LIMITATIONS = (
    "Trained on historical applications of one lender: applicants unlike them (new products, "
    "regions, income types) are outside its evidence, and the monitoring sidecar's drift "
    "screen is the guard against that.",
    "Outcomes arrive months after a decision: labelled performance lags; the sidecar "
    "estimates it from calibrated probabilities in the meantime.",
    "Declined applicants have no observed outcome (reject inference is not performed): "
    "performance is measured on approved-like populations only.",
    "Fairness is measured on the protected attributes present in the data; attributes that "
    "are not collected (e.g. race) cannot be screened directly.",
    "Reason codes explain the model's score, not the lender's final decision, which may use "
    "policy rules outside the model.",
)


@dataclass
class CardFacts:
    """Everything a card shows about one version (absent facts render as "not recorded")."""

    metadata: dict[str, Any]
    """The version's stored metadata (``ModelMetadata`` as JSON, possibly newer fields)."""
    mlflow_version: str | None = None
    mlflow_tags: dict[str, str] = field(default_factory=dict)
    aliases: Sequence[str] = ()
    reasons: list[dict[str, str]] = field(default_factory=list)
    """The reason-code table for the model's features (``card_facts.reason_rows``)."""
    """Model field -> adverse-action reason text (the explainer's mapping)."""
    validation: dict[str, Any] | None = None
    calibration_png: bytes | None = None
    data_file: str | None = None

    @property
    def tag(self) -> str:
        return f"{self.metadata.get('name', 'loan_default')}:{self.metadata.get('version', '?')}"

    def approvals(self) -> list[dict[str, Any]]:
        """``governance.approvals`` of the MLflow version (a JSON list), else []."""
        raw = self.mlflow_tags.get(APPROVALS_TAG)
        try:
            value = json.loads(raw) if raw else []
        except json.JSONDecodeError:
            return [{"by": "?", "role": "?", "reason": f"unreadable tag: {raw!s:.60}", "at": ""}]
        return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []

    def status(self) -> str:
        return self.mlflow_tags.get(STATUS_TAG) or NOT_RECORDED


def _v(value: Any) -> str:
    if value is None or value == "":
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def sections(facts: CardFacts) -> list[tuple[str, list[str] | list[list[str]], list[str] | None]]:
    """The card as (title, paragraphs or table rows, table head or None), shared by both
    renderings so the Markdown and the HTML always say the same."""
    meta = facts.metadata
    metrics = TrainingMetrics.model_validate(meta.get("training_metrics") or {})
    thresholds = meta.get("thresholds") or {}
    out: list[tuple[str, Any, list[str] | None]] = []
    out.append(
        (
            "Purpose and intended use",
            [
                PURPOSE,
                "Intended users: credit underwriters, "
                "the model risk team, fair-lending officers. Out of scope: any use on "
                "applicants of other products or lenders without revalidation.",
            ],
            None,
        )
    )
    out.append(
        (
            "Identity",
            [
                ["Bento tag", facts.tag],
                ["MLflow version", _v(facts.mlflow_version)],
                ["aliases", ", ".join(facts.aliases) or "none"],
                ["governance status", facts.status()],
                ["algorithm", _v(meta.get("algorithm"))],
                ["created (UTC)", _v(meta.get("created_at"))],
            ],
            ["item", "value"],
        )
    )
    validation = facts.validation or {}
    out.append(("Data", [
        ["source mapping", _v(meta.get("data_source"))], ["source file", _v(facts.data_file)],
        ["data hash (SHA-256)", _v(meta.get("data_hash"))],
        ["rows (valid)", _v(meta.get("data_rows"))],
        ["period", _v(meta.get("data_period"))],
        ["validation", NOT_RECORDED if not validation else
         f"{'passed' if validation.get('passed') else 'FAILED'}: {validation.get('rows_in')} rows "
         f"in, {validation.get('rows_quarantined')} quarantined "
         f"(max share {validation.get('max_failure_share')})"],
        ["seed", _v(meta.get("seed"))],
    ], ["item", "value"]))  # fmt: skip
    params = meta.get("params") or {}
    design = [["input fields", str(len(meta.get("input_fields") or []))],
              ["model features", ", ".join(meta.get("feature_names") or []) or NOT_RECORDED],
              ["schema fingerprint", _v(meta.get("schema_fingerprint"))]]  # fmt: skip
    design += [[f"param {k}", escape_cell(v)] for k, v in sorted(params.items())]
    out.append(("Design and features", design, ["item", "value"]))
    perf = []
    for name in METRICS:
        spread = metrics.cv.get(name)
        perf.append([name,
                     _v(spread.mean if spread else None),
                     _v(spread.std if spread else None),
                     _v(metrics.holdout.get(name))])  # fmt: skip
    out.append(("Performance", perf, ["metric", f"CV mean ({metrics.folds or '?'} folds)",
                                      "CV std (fold spread)",
                                      f"hold-out ({_v(metrics.holdout_rows)} rows)"]))  # fmt: skip
    policy = meta.get("decision_policy")
    out.append(("Decision policy", [
        ["risk bands", f"LOW below {_v(thresholds.get('medium'))}, MEDIUM from there, "
                       f"HIGH from {_v(thresholds.get('high'))} (calibrated probability)"],
        ["metrics threshold", _v(thresholds.get("decision"))],
        ["approve / refer / decline", NOT_RECORDED if policy is None else escape_cell(policy)],
    ], ["item", "value"]))  # fmt: skip
    fairness = meta.get("fairness")
    head = ["attribute", "group", "n", "approval rate", "adverse impact ratio", "TPR", "FPR",
            "predicted default rate"]  # fmt: skip
    if fairness:
        rows = [[_v(r.get(k)) for k in ("attribute", "group", "n", "approval_rate",
                 "adverse_impact_ratio", "tpr", "fpr", "predicted_default_rate")]
                for r in fairness if isinstance(r, Mapping)]  # fmt: skip
        out.append(("Fairness at the decision", rows, head))
    else:
        out.append(("Fairness at the decision", [f"{NOT_RECORDED}: this version's metadata "
                    "holds no fairness table at the decision."], None))  # fmt: skip
    if facts.reasons:
        reasons = [[r["field"], r["features"], r["reason"], r["missing_reason"]]
                   for r in facts.reasons]  # fmt: skip
        out.append(("Reason codes", reasons, ["field", "model features folded into it",
                    "adverse-action reason", "stated when the field is missing"]))  # fmt: skip
    else:
        out.append(("Reason codes", [f"{NOT_RECORDED}: the reason-code table could not be "
                    "read."], None))  # fmt: skip
    out.append(("Limitations", list(LIMITATIONS), None))
    approvals = [[_v(a.get("by")), _v(a.get("role")), _v(a.get("reason")), _v(a.get("at"))]
                 for a in facts.approvals()]  # fmt: skip
    out.append(
        (
            "Approvals",
            approvals or [f"{NOT_RECORDED}: no approval on this version."],
            ["by", "role", "reason", "at"] if approvals else None,
        )
    )
    out.append(("Lineage", [
        ["MLflow run", _v(meta.get("mlflow_run_id"))], ["code commit", _v(meta.get("git_commit"))],
        ["data hash", _v(meta.get("data_hash"))],
        ["artifact SHA-256", _v(meta.get("artifact_sha256"))],
        ["training reason", _v(facts.mlflow_tags.get("reason"))],
    ], ["item", "value"]))  # fmt: skip
    return out


def escape_cell(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(facts: CardFacts) -> str:
    lines = [f"# Model card: {facts.tag}", ""]
    for title, content, head in sections(facts):
        lines += [f"## {title}", ""]
        if head is None:
            lines += [f"- {p}" if title == "Limitations" else str(p) for p in content]
        else:
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in content]
        if title == "Performance":
            lines += ["", f"Calibration plot: `{CALIBRATION_PNG}`" if facts.calibration_png
                      else f"Calibration plot: {NOT_RECORDED}"]  # fmt: skip
        lines.append("")
    return "\n".join(lines)


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.muted{color:#777}
td{max-width:50em;overflow-wrap:anywhere}img{max-width:100%}"""


def render_html(facts: CardFacts) -> str:
    body = []
    for title, content, head in sections(facts):
        body.append(f"<h2>{escape(title)}</h2>")
        if head is None:
            tag = "li" if title == "Limitations" else "p"
            items = "".join(f"<{tag}>{_cell(str(p))}</{tag}>" for p in content)
            body.append(f"<ul>{items}</ul>" if tag == "li" else items)
        else:
            cells = "".join(f"<th>{escape(h)}</th>" for h in head)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_cell(str(c))}</td>" for c in row) + "</tr>"
                for row in content
            )
            body.append(f"<table><tr>{cells}</tr>{rows}</table>")
        if title == "Performance":
            if facts.calibration_png:
                data = base64.b64encode(facts.calibration_png).decode()
                body.append(f'<p><img alt="calibration plot (out-of-fold)" width="480" '
                            f'src="data:image/png;base64,{data}"></p>')  # fmt: skip
            else:
                body.append(f'<p class="muted">Calibration plot: {NOT_RECORDED}</p>')
    title = f"Model card: {facts.tag}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_CSS}</style></head><body><h1>{escape(title)}</h1>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _cell(text: str) -> str:
    html = escape(text.replace("\\|", "|"))
    return f'<span class="muted">{html}</span>' if text.startswith(NOT_RECORDED) else html


def write_card(facts: CardFacts, folder: Path, *, stem: str = "model_card") -> tuple[Path, Path]:
    """Write ``<stem>.md``, ``<stem>.html`` (and the calibration PNG) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    md, html = folder / f"{stem}.md", folder / f"{stem}.html"
    if facts.calibration_png:
        (folder / CALIBRATION_PNG).write_bytes(facts.calibration_png)
    for path, text in ((md, render_markdown(facts)), (html, render_html(facts))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return md, html
