"""``loanctl data``: import, generate, validate and hash data sets.

Every command of ``loanctl`` names its files the same way: ``--data`` for what it reads and
``--out`` for what it writes, whose ending (``.parquet``, ``.csv``, ``.csv.gz``, ``.tsv``)
chooses the format (an unknown ending is an error before any work).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("generate")
def generate_command(
    out: Annotated[
        Path, typer.Option("--out", help="Output file: .parquet, .csv, .csv.gz or .tsv.")
    ],
    rows: Annotated[int, typer.Option(min=1, help="Number of applications.")] = 100_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed: the same seed, the same data.")
    ] = 0,
    shift: Annotated[
        str,
        typer.Option(
            help="Population shift preset for monitoring demos: none, income_drop, younger, "
            "score_shift, credit_growth, missing_scores, default_surge, group_risk (one "
            "group's risk raised: a fair-lending disparity)."
        ),
    ] = "none",
    end: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of the application window (UTC)."),
    ] = None,
    months: Annotated[int, typer.Option(min=1, help="Length of the application window.")] = 6,
) -> None:
    """Write synthetic applications in the canonical schema, with a known default mechanism."""
    import time

    from loan_default.data.generate import DEFAULT_PERIOD_END, generate_applications
    from loan_default.data.io import output_format, write_table

    output_format(out)
    period_end = DEFAULT_PERIOD_END if end is None else end.replace(tzinfo=UTC) + timedelta(days=1)
    started = time.perf_counter()
    frame = generate_applications(
        rows, seed=seed, shift=shift, period_end=period_end, months=months
    )
    generated = time.perf_counter() - started
    write_table(frame, out)
    written = time.perf_counter() - started - generated
    typer.echo(
        f"{out}: {len(frame):,} applications (seed {seed}, shift {shift}), "
        f"default rate {frame['default'].mean():.2%}; generated in {generated:.2f} s, "
        f"written in {written:.2f} s"
    )


def _quarantine_default(out: Path) -> Path:
    """``<OUT stem>.quarantine.parquet`` (or ``.csv`` when OUT is CSV), next to OUT."""
    stem = out.name.split(".")[0]
    suffix = ".csv" if out.name.endswith((".csv", ".csv.gz")) else ".parquet"
    return out.with_name(f"{stem}.quarantine{suffix}")


@app.command("import")
def import_command(
    source_file: Annotated[
        Path, typer.Option("--data", help="The lender's table: CSV/TSV/Parquet, gzip or not.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Canonical output: .parquet (or .csv, .tsv).")],
    source: Annotated[
        str, typer.Option(help="Source mapping: a name in configs/sources/ or a YAML path.")
    ],
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Rows that cannot be mapped (default: <OUT stem>.quarantine.parquet)."),
    ] = None,
    bureau: Annotated[
        bool,
        typer.Option(
            help="Add the rows' bureau fields (by client_id, at application_date) to the "
            "feature store's bureau table (<home>/feature_repo/tables/bureau.parquet)."
        ),
    ] = True,
) -> None:
    """Map a source table onto the canonical schema; unmappable rows go to a quarantine file.

    Rows with a client key and a date also feed the feature store's bureau table (then run
    ``loanctl features materialize`` to serve them).
    """
    from loan_default.data.io import output_format, write_table
    from loan_default.data.sources import import_table
    from loan_default.errors import InputError

    output_format(out)
    result = import_table(source_file, source)
    typer.echo(result.summary())
    if len(result.quarantine):
        written = write_table(result.quarantine, quarantine or _quarantine_default(out))
        typer.echo(f"wrote {written} ({len(result.quarantine)} row(s) with reasons)")
    if result.data.empty:
        raise InputError(
            f"{source_file}: none of its {result.rows_in} rows could be mapped with source "
            f"{result.source!r}; first row: {result.quarantine['reasons'].iloc[0]}"
        )
    write_table(result.data.reset_index(drop=True), out)
    typer.echo(f"wrote {out}")
    if bureau:
        from loan_default.feature_store.settings import FeatureStoreSettings
        from loan_default.feature_store.store import write_bureau

        settings = FeatureStoreSettings()
        if added := write_bureau(settings, result.data):
            typer.echo(f"bureau table: {added} row(s) added in {settings.repo_path}")


@app.command("validate")
def validate_command(
    data: Annotated[Path, typer.Option("--data", help="Canonical file, or a source file.")],
    source: Annotated[
        str | None, typer.Option(help="Import with this source mapping first.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(
            help="Failing rows with reasons (default: <IN stem>.quarantine.parquet "
            "under LOAN_HOME/quarantine)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Validation config (default: configs/validation.yaml).")
    ] = None,
) -> None:
    """Check every rule; print a summary; exit 2 when too many rows fail."""
    import json

    from loan_default.data.io import write_table
    from loan_default.data.mappings import canonical_mapping, load_mapping
    from loan_default.data.prepare import default_quarantine_path, merged_report, quarantine_frame
    from loan_default.data.sources import import_table
    from loan_default.data.validation import ValidationConfig, validate

    mapping = load_mapping(source) if source else canonical_mapping()
    imported = import_table(data, mapping)
    checked = validate(imported.data, ValidationConfig.load(config), enforce=False)
    result = merged_report(imported, checked.report)
    typer.echo(result.summary())
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        body = {"file": str(data), "source": mapping.name, **result.to_dict()}
        report.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {report}")
    rejected = quarantine_frame(imported, checked.quarantine)
    if len(rejected):
        written = write_table(rejected, quarantine or default_quarantine_path(data))
        typer.echo(f"wrote {written} ({len(rejected)} row(s) with reasons)")
    result.raise_if_failed()


@app.command("hash")
def hash_command(
    data: Annotated[Path, typer.Option("--data", help="Canonical or source file.")],
    source: Annotated[
        str | None, typer.Option(help="Import with this source mapping first.")
    ] = None,
) -> None:
    """Print the data version: the content hash of the validated data set (as training logs)."""
    from loan_default.data.prepare import prepare_dataset

    prepared = prepare_dataset(data, source=source)
    if prepared.rows_quarantined:
        typer.echo(
            f"{prepared.rows_quarantined} of {prepared.rows_in} row(s) failed validation and "
            f"are not part of the hash (see {prepared.quarantine_path})",
            err=True,
        )
    typer.echo(prepared.data_hash)
