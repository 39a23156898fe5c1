"""The project's ASGI app for benchmarks (``bench.settings``: adds the bare ``{}`` view).

For A/B runs of the request path (``bench/http_bench.py --handler django`` /
``--no-gc-freeze``): ``BENCH_HANDLER=django`` serves HTTP with Django's stock
``ASGIHandler`` instead of ``SingleHopASGIHandler``; ``BENCH_GC_FREEZE=0``
undoes the start-up ``gc.freeze()``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from config.asgi import application  # noqa: E402

if os.environ.get("BENCH_HANDLER") == "django":
    from django.core.handlers.asgi import ASGIHandler

    application.application_mapping["http"] = ASGIHandler()
if os.environ.get("BENCH_GC_FREEZE") == "0":
    import gc

    gc.unfreeze()
