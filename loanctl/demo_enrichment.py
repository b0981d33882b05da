"""The demo's feature-store step (``make demo-enrichment``): one application scored by client key.

``store`` writes the demo's in-memory feature store: for each client of the demo data (and of the
demo's replays), the bureau fields of its latest application, known as of that application's
date (the rows a bureau feed would leave in the store). ``show`` then sends a running service
one application of a stored client *without* its bureau fields, prints what the store filled
in and how old it was, and checks that the answer equals the same application sent with those
fields.

Run as ``python -m loanctl.demo_enrichment store|show``; the token for an authenticated service
comes from ``LOAN_TOKEN`` (never a command-line argument).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)

BUREAU = ("score_source_1", "score_source_2", "score_source_3", "social_circle_default",
          "credit_bureau")  # fmt: skip
"""The fields a bureau feed delivers: the demo's store holds these."""


@app.command()
def store(
    data: Annotated[Path, typer.Option(help="Canonical applications (.parquet or .csv).")],
    out: Annotated[Path, typer.Option(help="The store file to write (.jsonl).")],
    replay_seed: Annotated[
        list[int] | None,
        typer.Option(help="Also the clients a `loanctl monitor replay --seed N` sends (repeat)."),
    ] = None,
    replay_rows: Annotated[int, typer.Option(min=1, help="Rows of those replays.")] = 3000,
) -> None:
    """Write each client's latest bureau fields to a .jsonl feature store.

    A bureau reports on every applicant, so the demo's store also holds the clients of the
    demo's replays (drawn again from the generator with the replay's seed): their lookups hit,
    as a lender's would, and the sidecar's miss-share alert stays quiet.
    """
    import pandas as pd

    from loan_default.data.generate import generate_applications
    from loan_default.data.io import read_table
    from loan_default.schema import frame_to_records

    frames = [read_table(data)]
    frames += [generate_applications(replay_rows, seed=seed) for seed in replay_seed or ()]
    frame = pd.concat(frames, ignore_index=True).sort_values("application_date")
    latest = frame.dropna(subset=["client_id"]).groupby("client_id", sort=True).tail(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as lines:
        for record in frame_to_records(latest[["client_id", "application_date", *BUREAU]]):
            row = {"client_id": record.pop("client_id"),
                   "event_timestamp": record.pop("application_date"), **record}  # fmt: skip
            lines.write(json.dumps(row) + "\n")
    typer.echo(f"feature store: {len(latest):,} clients' bureau fields -> {out}")


@app.command()
def show(
    url: Annotated[str, typer.Option(help="The running service.")],
    data: Annotated[Path, typer.Option(help="The applications the store was written from.")],
) -> None:
    """Score one stored client's application sent without its bureau fields."""
    import httpx

    from loan_default.data.io import read_table
    from loan_default.schema import frame_to_records

    frame = read_table(data).sort_values("application_date").dropna(subset=["client_id"])
    (full,) = frame_to_records(frame.tail(1))
    full["application_date"] = datetime.now(UTC).isoformat(timespec="seconds")
    full.pop("application_id", None)
    sent = {k: v for k, v in full.items() if k not in BUREAU}
    token = os.environ.get("LOAN_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def predict(body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{url}/v1/predict", json=body, headers=headers, timeout=30)
        if answer.status_code != 200:
            raise typer.BadParameter(f"{answer.status_code} {answer.text}", param_hint="--url")
        result: dict[str, Any] = answer.json()
        return result

    keyed, direct = predict(sent), predict(full)
    enrichment = keyed.get("enrichment")
    typer.echo(f"client {sent['client_id']}: sent without {', '.join(BUREAU)}")
    if enrichment is None:
        typer.echo("no enrichment in the answer: is LOAN_FEATURE_STORE set for the service?")
        raise typer.Exit(1)
    typer.echo(f"lookup: {enrichment['outcome']}; filled from the store (value, age):")
    for name, age in enrichment["fields"].items():
        typer.echo(f"  {name:24} {full[name]!s:>10}  {age / 86400:6.1f} days old")
    typer.echo(f"default probability {keyed['default_probability']:.4f} "
               f"({keyed['risk_category']}); sent with the fields: "
               f"{direct['default_probability']:.4f}")  # fmt: skip
    if keyed["default_probability"] != direct["default_probability"]:
        typer.echo("MISMATCH: the enriched answer differs from the completed application's")
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
