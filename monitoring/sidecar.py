"""The monitoring sidecar: traffic log -> windows -> statistics -> report, metrics, triggers.

A thin loop around pure parts (``windows``, ``analysis``, ``triggers``, ``report``). It never
imports the service: all it knows of serving is the traffic log and the Bento model store.

Exactly-once: a window's predictions go into the prediction store, its report is written and
its checkpoint saved inside one SQLite transaction; only after the commit are the effects that
must not repeat carried out (trigger log lines, metrics, the retraining). A sidecar killed at
any point re-reads the unfinished window and produces the same window id and report again.
Pausing scoring happens inside the transaction, because it is idempotent and must not be lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from loan_default import control
from loan_default.errors import PauseFileError
from loan_default.feature_store.settings import FeatureStoreSettings
from loan_default.feature_store.store import bureau_newest_event
from loan_default.traffic import BadLine, FeedbackRecord, Kind, read_new, utcnow
from monitoring import logfiles, retention
from monitoring.analysis import ModelCatalog, analyse, stored_attributes
from monitoring.client_history import history_job
from monitoring.metrics import SidecarMetrics
from monitoring.quarantine import Quarantine
from monitoring.report import latest_report, write_index, write_window_report
from monitoring.responses import Retrainer, Trainer, TriggerLog, pause_scoring
from monitoring.results import WindowResult
from monitoring.settings import MonitoringConfig, MonitorSettings
from monitoring.state import MonitorState
from monitoring.triggers import TriggerState, combined_reason, evaluate
from monitoring.windows import LogTail, Window, Windower

log = logging.getLogger(__name__)

_POLL_LIMIT = 50_000
"""Most records read from one log file per poll (bounds memory on a long backlog)."""


class Sidecar:
    """Reads the logs from the persisted checkpoints and analyses each closed window.

    Args:
        settings: process settings (paths, port).
        config: thresholds, windows, triggers, retention.
        trainer: what a fired trigger runs (``loanctl.flows.flow_trainer``); None reports the
            triggers without training.
        metrics: where to publish (a fresh registry by default).
        clock: the current time (tests move it).
        evidently: also render Evidently's page per window (seconds per window).
    """

    def __init__(
        self,
        settings: MonitorSettings,
        config: MonitoringConfig,
        *,
        trainer: Trainer | None = None,
        metrics: SidecarMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        evidently: bool = True,
    ) -> None:
        self.settings = settings
        self.config = config
        self.metrics = metrics or SidecarMetrics()
        self.clock = clock
        self.evidently = evidently
        self.state = MonitorState(settings.state_db)
        self.quarantine = Quarantine(settings.quarantine_path)
        with logfiles.maintenance_lock(settings.traffic_path, exclusive=True):
            logfiles.recover(settings.traffic_path, self.state)  # an interrupted erasure
        self._readers()
        self.catalog = ModelCatalog()
        self.trigger_log = TriggerLog(settings.trigger_log)
        self.retrainer = Retrainer(trainer if config.retrain.enabled else None, self.trigger_log)
        self._attributes = stored_attributes(config)
        self.history = history_job(settings)
        latest = latest_report(settings.reports_path)
        if latest is not None:  # alerts keep their state across a restart
            self.metrics.publish(latest, restored=True)

    def _readers(self) -> None:
        """(Re)build the log readers from the persisted checkpoints (at start, and after an
        erasure or retention rewrote the log: ``log_epoch`` moved)."""
        start = self.state.checkpoint("predictions")
        self._epoch = logfiles.epoch(self.state)
        self.tail = LogTail(
            self.settings.traffic_path, start, on_bad=self._quarantined("predictions")
        )
        w = self.config.windows
        self.windower = Windower(
            start, max_records=w.max_records, max_seconds=w.max_seconds, min_records=w.min_records
        )

    def close(self) -> None:
        self.retrainer.close()
        self.state.close()

    # -- passes ------------------------------------------------------------------------------
    def run_once(self) -> list[WindowResult]:
        """Analyse everything logged so far, the last partial window included (if it holds
        ``min_records``); wait for any training it triggers."""
        results: list[WindowResult] = []
        while True:
            new = self.step(flush=False, wait_training=True, results=results)
            if not new:
                break
        self.step(flush=True, wait_training=True, results=results)
        return results

    def run_forever(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; trainings run in the background."""
        while not stop.is_set():
            results: list[WindowResult] = []
            read = self.step(flush=False, wait_training=False, results=results)
            if not read:
                stop.wait(self.settings.monitor_poll_seconds)

    def step(self, *, flush: bool, wait_training: bool, results: list[WindowResult]) -> int:
        """One round: ingest outcomes, read predictions, analyse closed windows.

        Returns how many prediction records were read; appends the window results. Holds the
        traffic folder's maintenance lock (shared) throughout: an erasure waits for the round.
        """
        self._log_retention(self.clock())
        with logfiles.maintenance_lock(self.settings.traffic_path, exclusive=False):
            if logfiles.epoch(self.state) != self._epoch:
                log.info("the traffic log was rewritten (erasure or retention): re-reading")
                self._readers()
            return self._step(flush=flush, wait_training=wait_training, results=results)

    def _step(self, *, flush: bool, wait_training: bool, results: list[WindowResult]) -> int:
        self._ingest_feedback()
        items = self.tail.poll(_POLL_LIMIT)
        self.windower.add(items)
        now = self.clock()
        for window in self.windower.ready(now=now, flush=flush and not items):
            results.append(self._process(window, wait_training=wait_training))
        if results:
            self._retention(now)
        self.metrics.paused.set(int(self._paused()))
        if self.history is not None and self.history.due(now):
            self._client_history(now)
        self.metrics.beat()
        return len(items)

    def _paused(self) -> bool:
        """Whether scoring is paused; an unreadable pause file pauses it too (and is logged)."""
        try:
            return control.status(self.settings.home) is not None
        except PauseFileError as exc:
            log.error("%s", exc)
            return True

    # -- one window --------------------------------------------------------------------------
    def _process(self, window: Window, *, wait_training: bool) -> WindowResult:
        now = self.clock()
        seq = int(self.state.get("window_seq") or 0) + 1
        window_id = f"w{seq:06d}-{window.start:%Y%m%dT%H%M%SZ}"
        folder = self.settings.reports_path / window_id
        folder.mkdir(parents=True, exist_ok=True)
        with self.state.transaction() as db:
            # Stored first, so outcomes that already arrived join this window's predictions.
            MonitorState.add_predictions(db, window_id, window.records, self._attributes)
            result = analyse(
                window,
                window_id=window_id,
                catalog=self.catalog,
                state=self.state,
                config=self.config,
                folder=folder,
                now=now,
                evidently=self.evidently,
            )
            created = {
                s.model_version: s.model_created_at for s in result.segments if s.model_created_at
            }
            previous = TriggerState.model_validate(self.state.get("triggers") or {})
            evaluation = evaluate(
                result.segments,
                window_id=window_id,
                created_at=created,
                record_times=[r.timestamp for r in window.records],
                state=previous,
                config=self.config.triggers,
                now=now,
            )
            result.triggers = evaluation.fired
            if evaluation.fired and self.retrainer.trainer is not None:
                evaluation.state.last_training_at = now
            for segment in result.segments:
                if segment.lookups is not None and segment.lookups.problem is not None:
                    log.warning("window %s: %s", window_id, segment.lookups.problem)
            breaches = [s for s in result.segments if s.quality_breach]
            if breaches and self.config.responses.pause_on_quality_breach:
                problems = "; ".join(p for s in breaches for p in s.quality_problems)
                result.paused = f"data-quality breach in window {window_id}: {problems}"
                pause_scoring(self.settings.home, result.paused, self.trigger_log)
            write_window_report(
                result, self.settings.reports_path, suppressed=evaluation.suppressed
            )
            write_index(self.settings.reports_path, auc_floor=self.config.triggers.auc_below)
            MonitorState.save_checkpoint(db, "predictions", window.checkpoint)
            MonitorState.put(db, "window_seq", seq)
            MonitorState.put(db, "triggers", evaluation.state.model_dump(mode="json"))
        # Committed: now the effects that must happen at most once.
        for event in result.triggers:
            self.trigger_log.write("trigger", **event.model_dump(mode="json"))
        self.metrics.publish(result)
        self.metrics.records.labels("predictions").inc(len(window.records))
        log.info(
            "window %s: %d records, drifted (by model version) %s, triggers %s",
            window_id,
            result.records,
            {s.model_version: s.drifted_features for s in result.segments},
            [t.trigger for t in result.triggers],
        )
        if result.triggers:
            self.retrainer.start(combined_reason(result.triggers), wait=wait_training)
        return result

    def _quarantined(self, kind: Kind) -> Callable[[BadLine], None]:
        """What the readers call with an unreadable line: keep it once, count it."""

        def keep(bad: BadLine) -> None:
            if self.quarantine.add(kind, bad):
                self.metrics.bad_lines.labels(kind).inc()

        return keep

    def _ingest_feedback(self) -> None:
        start = self.state.checkpoint("feedback")
        records, checkpoint = read_new(
            self.settings.traffic_path,
            "feedback",
            start,
            max_records=_POLL_LIMIT,
            model=FeedbackRecord,
            on_bad=self._quarantined("feedback"),
        )
        if checkpoint == start:
            return
        self.state.add_feedback(records, checkpoint)  # also when every line was quarantined
        self.metrics.records.labels("feedback").inc(len(records))

    def _client_history(self, now: datetime) -> None:
        """Push the client history; a store that fails is logged and counted, and retried at
        the next run (the sidecar goes on)."""
        assert self.history is not None
        try:
            run = self.history.run(now)
            newest = bureau_newest_event(FeatureStoreSettings())
        except Exception as exc:  # a job boundary (Feast, Redis, disk): report, keep monitoring
            log.error("client history not pushed: %s", exc)
            self.history.failed(now)
            self.metrics.history_failures.inc()
            return
        self.metrics.history_pushed.set(run.at.timestamp())
        self.metrics.history_clients.set(run.clients)
        if newest is not None:
            self.metrics.bureau_newest.set(newest.timestamp())

    def _log_retention(self, now: datetime) -> None:
        """Delete expired log files, quarantine entries and reports, once per schedule."""
        every = self.config.retention.run_every_hours
        last = self.state.get("retention_at")
        if last is not None and now - datetime.fromisoformat(last) < timedelta(hours=every):
            return
        try:
            outcome = retention.enforce(
                retention.Targets.of(self.settings), self.config.retention, now=now,
                dry_run=False, state=self.state,
            )  # fmt: skip
        except OSError as exc:  # a full disk must not stop the monitoring; tried next time
            log.error("retention failed: %s", exc)
            return
        with self.state.transaction() as db:
            MonitorState.put(db, "retention_at", now.isoformat())
        if outcome.deleted:
            log.info("retention: %s", outcome.summary())

    def _retention(self, now: datetime) -> None:
        """Bound the prediction store (the reports and logs: :meth:`_log_retention`)."""
        keep = self.config.retention
        self.state.prune(
            older_than=now - timedelta(days=keep.prediction_days),
            max_predictions=keep.max_predictions,
        )
