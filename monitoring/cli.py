"""``loanctl monitor`` (the sidecar, traffic replay) and ``loanctl service`` (the scoring pause).

Heavy modules are imported inside the commands, so ``loanctl --help`` stays instant.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from monitoring.responses import TrainerFactory

app = typer.Typer(no_args_is_help=True)
service_app = typer.Typer(no_args_is_help=True)


@dataclass(frozen=True)
class MonitorWiring:
    """What the wiring layer (``loanctl``) hands these commands as the click context's ``obj``.

    Attributes:
        trainer_factory: builds what a fired trigger runs; None: triggers are reported only.
    """

    trainer_factory: TrainerFactory | None = None


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Analyse what is logged now (flushing the last "
            "window) and exit, instead of watching the logs.",
        ),
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="Monitoring YAML (default: LOAN_MONITOR_CONFIG).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port of /metrics (default 9108).")] = None,
    evidently: Annotated[
        bool, typer.Option(help="Render Evidently's page for each window.")
    ] = True,
    metrics_file: Annotated[
        Path | None, typer.Option(help="With --once: write the metrics here (text format).")
    ] = None,
) -> None:
    """Watch the traffic log: drift, performance, fairness and quality per window."""
    from monitoring.metrics import SidecarMetrics
    from monitoring.settings import MonitoringConfig, MonitorSettings
    from monitoring.sidecar import Sidecar

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides: dict[str, Any] = {}
    if config is not None:
        overrides["monitor_config"] = config
    if port is not None:
        overrides["monitor_port"] = port
    settings = MonitorSettings(**overrides)
    cfg = MonitoringConfig.load(settings.monitor_config)
    wiring = ctx.find_object(MonitorWiring) or MonitorWiring()
    trainer = None
    if cfg.retrain.enabled and cfg.retrain.data is not None and wiring.trainer_factory:
        trainer = wiring.trainer_factory(cfg.retrain)
    elif cfg.retrain.enabled and cfg.retrain.data is None:
        typer.echo("note: retrain.data is not set: triggers are reported, nothing is trained")
    elif cfg.retrain.enabled:
        typer.echo("note: no training is wired in: triggers are reported, nothing is trained")
    metrics = SidecarMetrics()
    sidecar = Sidecar(settings, cfg, trainer=trainer, metrics=metrics, evidently=evidently)
    try:
        if once:
            for result in sidecar.run_once():
                folder = settings.reports_path / result.window_id
                for seg in result.segments:
                    drifted = ", ".join(seg.drifted_features) or "none"
                    typer.echo(
                        f"{result.window_id}: {seg.records} records of {seg.model_version}, "
                        f"drift score {seg.drift_score:.2f}, score PSI {seg.score_psi:.3f}, "
                        f"drifted: {drifted}"
                    )
                for event in result.triggers:
                    typer.echo(f"  trigger {event.trigger}: {event.reason}")
                if result.paused:
                    typer.echo(f"  scoring paused: {result.paused}")
                typer.echo(f"  report: {folder / 'index.html'}")
            if sidecar.windower.pending:
                typer.echo(f"{sidecar.windower.pending} records wait for a fuller window")
            if metrics_file is not None:
                from prometheus_client import write_to_textfile

                write_to_textfile(str(metrics_file), metrics.registry)
            return
        metrics.serve(settings.monitor_host, settings.monitor_port)
        typer.echo(f"metrics on http://{settings.monitor_host}:{settings.monitor_port}/metrics")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        sidecar.run_forever(stop)
    finally:
        sidecar.close()


@app.command("replay")
def replay_command(
    url: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:3000",
    rows: Annotated[int, typer.Option(min=1, help="Applications to send.")] = 3000,
    shift: Annotated[
        str | None, typer.Option(help="Population shift preset, e.g. income_drop.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Applications per call.")] = 500,
    feedback_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of outcomes reported back.")
    ] = 1.0,
) -> None:
    """Send generated (optionally shifted) applications and their outcomes to the service."""
    from monitoring.replay import replay

    result = replay(url, rows=rows, seed=seed, shift=shift, batch_size=batch_size,
                    feedback_share=feedback_share)  # fmt: skip
    mix = ", ".join(f"{k} {v}" for k, v in sorted(result.risk_mix.items()))
    versions = ", ".join(result.model_versions)
    typer.echo(
        f"scored {result.sent} applications (shift {shift or 'none'}) with {versions} in "
        f"{result.seconds:.1f}s; risk mix: {mix}; outcomes reported: {result.feedback}"
    )


@service_app.command("pause")
def pause(
    reason: Annotated[str, typer.Option(help="Shown to callers in the 503 answer.")],
) -> None:
    """Stop scoring: the service answers 503 with the reason until resumed."""
    from loan_default import control
    from loan_default.settings import LoanSettings

    state = control.pause(LoanSettings().home, reason, by="operator")
    typer.echo(f"scoring paused since {state.since:%Y-%m-%d %H:%M:%S} UTC: {state.reason}")


@service_app.command("resume")
def resume() -> None:
    """Clear the pause (after a data-quality breach has been dealt with)."""
    from loan_default import control
    from loan_default.settings import LoanSettings

    was = control.resume(LoanSettings().home)
    typer.echo("scoring resumed" if was else "scoring was not paused")


@service_app.command("status")
def status() -> None:
    """Whether scoring is paused, by whom and why."""
    from loan_default import control
    from loan_default.settings import LoanSettings

    state = control.status(LoanSettings().home)
    if state is None:
        typer.echo("scoring: active")
    else:
        typer.echo(
            f"scoring: paused by {state.by} since {state.since:%Y-%m-%d %H:%M:%S} UTC: "
            f"{state.reason}"
        )


@service_app.command("wait")
def wait(
    url: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:3000",
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait at most.")] = 180.0,
) -> None:
    """Wait until the service answers /readyz (model loaded, schema matching); exit 1 if not."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url.rstrip('/')}/readyz", timeout=2.0)
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        else:
            if answer.status_code == 200:
                typer.echo(f"{url} is ready")
                return
            last = f"HTTP {answer.status_code}"
        time.sleep(1.0)
    typer.echo(f"error: {url} not ready after {timeout:g} s (last: {last})", err=True)
    raise typer.Exit(1)
