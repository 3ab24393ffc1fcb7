"""`opsqa scheduler run`: APScheduler calls the pass every few seconds; signals stop it cleanly.

APScheduler (3.11) only decides *when* to call `tick`; what is due lives in the database, so
a pass that runs late or twice does no harm, and a restart catches up what was missed. The
pass is one interval job (coalesced, never two at once); the job does not touch APScheduler
itself, since `shutdown(wait=True)` holds the job-store lock while it waits for the pass.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime

from . import scheduler, settings
from .clock import local_time

log = logging.getLogger("opsqa.scheduler")


class LocalTimes(logging.Formatter):
    """Log lines stamped in the organisation's zone with its offset (`2027-03-01 10:10:05 +08:00`), never in
    UTC or the machine's zone; `zone` follows the `timezone` setting, read again at each pass."""

    def __init__(self, fmt: str, zone) -> None:
        super().__init__(fmt)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's)
        return local_time(datetime.fromtimestamp(record.created, UTC), self.zone, seconds=True)


def _zone(engine):
    with engine.database.reading() as session:
        return settings.zone(session)


def run_workers(make_engine, *, workers: int, interval: float) -> int:
    """`--workers N`: N worker processes, each a daemon with its own connection and lease name; a
    SIGINT or SIGTERM is passed on to them, and this process waits for them to stop."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_worker, args=(make_engine, interval), name=f"opsqa-worker-{n}")
                for n in range(workers)]
    for child in children:
        child.start()

    def stop(signum, _frame) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: each finishes its pass in flight

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.join()
    return max((child.exitcode or 0) for child in children)


def _worker(make_engine, interval: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent passes a Ctrl-C on as SIGTERM
    engine = make_engine()
    try:
        run_daemon(engine, interval=interval)
    finally:
        engine.database.dispose()


def run_daemon(engine, *, interval: float = 30.0) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    stamps = LocalTimes("%(asctime)s %(name)s %(message)s", _zone(engine))
    output = logging.StreamHandler()
    output.setFormatter(stamps)
    logging.basicConfig(level=logging.WARNING, handlers=[output])  # a no-op where logging is set up already
    logging.getLogger("opsqa").setLevel(logging.INFO)
    runner = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    stopping = threading.Event()

    def run_pass() -> None:
        if stopping.is_set():
            return
        try:
            stamps.zone = _zone(engine)
            scheduler.tick(engine, engine.clock.now())
        except Exception:  # keep the daemon alive; the next pass tries again
            log.exception("scheduler pass failed")

    def stop(signum, _frame) -> None:
        if stopping.is_set():
            return
        log.info("received %s: finishing the pass in flight, then stopping", signal.Signals(signum).name)
        stopping.set()
        # From a thread: shutting down waits for the pass in flight, which commits or rolls back whole.
        threading.Thread(target=runner.shutdown, kwargs={"wait": True}, name="opsqa-stop").start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    runner.add_job(run_pass, IntervalTrigger(seconds=interval), id="tick", next_run_time=engine.clock.now())
    log.info("scheduler %s started on %s (a pass every %ss)", engine.worker, engine.database.url.split("@")[-1],
             interval)
    runner.start()
    log.info("scheduler stopped")


class Passes:
    """The scheduler's passes on a background thread of a process that does other work (`opsqa serve`):
    the same pass as the daemon's, every `interval` seconds, never two at once; `status()` says when the
    last one ended and whether it is overdue (three intervals without a pass)."""

    def __init__(self, engine, *, interval: float = 30.0):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.engine, self.interval = engine, interval
        self.runner = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        self.last_pass: datetime | None = None
        self.last_failure: datetime | None = None
        self.started: datetime | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        self.started = datetime.now(UTC)
        self.runner.add_job(self._pass, IntervalTrigger(seconds=self.interval), id="tick",
                            next_run_time=datetime.now(UTC))
        self.runner.start()
        log.info("scheduler %s started in this process (a pass every %ss)", self.engine.worker, self.interval)

    def _pass(self) -> None:
        try:
            scheduler.tick(self.engine, self.engine.clock.now())
        except Exception:  # the next pass tries again; /healthz shows the passes stopping
            log.exception("scheduler pass failed")
            with self._lock:
                self.last_failure = datetime.now(UTC)
            return
        with self._lock:
            self.last_pass = datetime.now(UTC)

    def stop(self) -> None:
        if self.runner.running:
            self.runner.shutdown(wait=True)  # the pass in flight commits or rolls back whole
        self.engine.close()

    def status(self) -> dict:
        with self._lock:
            last, failed = self.last_pass, self.last_failure
        now = datetime.now(UTC)
        since = last or self.started or now
        return {"last_pass": last.isoformat() if last else None,
                "last_failure": failed.isoformat() if failed else None,
                "interval_seconds": self.interval,
                "healthy": (now - since).total_seconds() <= 3 * self.interval}
