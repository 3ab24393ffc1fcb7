"""`opsqa scheduler run`: APScheduler drives the pass; signals stop it cleanly.

APScheduler (3.11) only decides *when* to call `tick`; what is due lives in the database.
The loop wakes at the next due time or after `interval` seconds, whichever is sooner, so a
timer added by an operator's command is picked up without waiting long.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

from . import scheduler

log = logging.getLogger("opsqa.scheduler")


def run_daemon(engine, *, interval: float = 30.0) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.date import DateTrigger

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runner = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    stopping = threading.Event()

    def run_pass() -> None:
        if stopping.is_set():
            return
        now = engine.clock.now()
        try:
            report = scheduler.tick(engine, now)
            if report.quiet:
                log.debug("nothing due at %s", now.isoformat())
        except Exception:  # keep the daemon alive; the next pass tries again
            log.exception("scheduler pass failed")
        if stopping.is_set():
            return
        wake = scheduler.next_wake(engine, engine.clock.now())
        latest = engine.clock.now() + timedelta(seconds=interval)
        when = min(wake, latest) if wake else latest
        runner.add_job(run_pass, DateTrigger(run_date=when), id="tick", replace_existing=True)

    def stop(signum, _frame) -> None:
        if stopping.is_set():
            return
        log.info("received %s: finishing the pass in flight, then stopping", signal.Signals(signum).name)
        stopping.set()
        # Not from the handler itself: shutting down waits for the pass in flight (it commits or
        # rolls back whole), and that pass may need the scheduler's lock the handler interrupted.
        threading.Thread(target=runner.shutdown, kwargs={"wait": True}, name="opsqa-stop").start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    runner.add_job(run_pass, id="tick")
    log.info("scheduler started on %s (pass at least every %ss)", engine.database.url.split("@")[-1], interval)
    runner.start()
    log.info("scheduler stopped")
