"""Celery application: configuration from Django settings (``CELERY_`` namespace).

Beat and the worker stop quietly on SIGTERM, SIGINT or SIGHUP at any moment,
start-up included:

- Celery's own beat handler saves the schedule *inside* the signal handler
  and raises ``SystemExit`` wherever the main thread happens to be. Arriving
  while django-celery-beat writes its schedule (an atomic block), it opens a
  second scheduler inside the first one's transaction: "Cannot open a new
  connection in an atomic block", a traceback, and a beat that never exits.
  ``GracefulBeat`` only *requests* the stop; the loop finishes the tick it is
  in, skips its sleep and saves the schedule once, outside any transaction.
- Before Celery installs its handlers (imports, Django set-up), SIGINT would
  be a ``KeyboardInterrupt`` traceback; there it ends the process the way
  SIGTERM and SIGHUP already do (nothing is written yet).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from celery import Celery, beat, signals
from celery.apps.beat import Beat
from kombu.utils.objects import cached_property

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class GracefulService(beat.Service):
    def get_scheduler(self, lazy=False, **kwargs):
        scheduler = super().get_scheduler(lazy=lazy, **kwargs)
        tick = scheduler.tick

        def tick_unless_stopping(*args, **kw):
            interval = tick(*args, **kw)
            # 0 makes the loop skip its sleep and see the stop at once
            return 0 if self._is_shutdown.is_set() else interval

        scheduler.tick = tick_unless_stopping
        return scheduler


class GracefulBeat(Beat):
    Service = GracefulService

    def install_sync_handler(self, service: beat.Service) -> None:
        loop_code = beat.Service.start.__code__

        def request_stop(signum, frame) -> None:
            first = not service._is_shutdown.is_set()
            service._is_shutdown.set()
            if first and frame is not None and frame.f_code is loop_code:
                # idle between ticks (sleeping): leave now; start() saves the schedule
                raise SystemExit(0)

        for signum in STOP_SIGNALS:
            signal.signal(signum, request_stop)


class ColonyCelery(Celery):
    @cached_property
    def Beat(self, **kwargs):  # noqa: N802 (Celery's name)
        return self.subclass_with_self(GracefulBeat)


def _thread_safe_denied_join_result() -> None:
    """Eager ``.delay()`` (the tests' default) from several threads leaves ``result.get()`` usable.

    Celery's ``denied_join_result`` saves and restores one process-wide flag:
    two eager calls that overlap in two threads (a test and its live server's
    request thread) restore in the wrong order and leave the flag set for good,
    so every later ``.delay().get()`` in the process raises "Never call
    result.get() within a task!". Here the flag is restored when the last
    overlapping call leaves.
    """
    import threading
    from contextlib import contextmanager

    from celery import _state
    from celery.app import task as task_module

    lock = threading.Lock()
    depth = {"n": 0, "before": False}

    @contextmanager
    def denied_join_result():
        with lock:
            if depth["n"] == 0:
                depth["before"] = _state.task_join_will_block()
            depth["n"] += 1
            _state._set_task_join_will_block(True)
        try:
            yield
        finally:
            with lock:
                depth["n"] -= 1
                if depth["n"] == 0:
                    _state._set_task_join_will_block(depth["before"])

    task_module.denied_join_result = denied_join_result


_thread_safe_denied_join_result()

app = ColonyCelery("colony")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if Path(sys.argv[0]).name == "celery" or sys.argv[0].endswith(os.path.join("celery", "__main__.py")):
    # a celery process (worker, beat): quiet until Celery installs its own handlers
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@signals.beat_init.connect
def _first_heartbeat(sender=None, **kwargs) -> None:
    """Beat's first pulse right away, so /readyz turns ``ok`` without waiting an interval."""
    app.send_task("core.heartbeat", ignore_result=True)


@signals.worker_init.connect
@signals.worker_process_init.connect
def _freeze_heap(**kwargs) -> None:
    """After the worker (and each forked child) started: long-lived objects leave the GC's generations."""
    import gc

    gc.collect()
    gc.freeze()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _close_redis(**kwargs) -> None:
    from apps.core.redis import close_all

    close_all()
