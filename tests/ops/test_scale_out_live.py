"""Scale-out rehearsal: two uvicorn processes, two Celery workers and one beat on one PostgreSQL and Redis.

A WebSocket held by one web process receives the event a request on the
other published (the Redis channel layer), and a job beat enqueues once runs
exactly once although two workers consume the queue.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from apps.core.redis import get_redis
from tests.accounts.factories import PASSWORD, UserFactory
from tests.live import wait_for
from tests.ops import processes
from tests.testapp.tasks import runs_key

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


@pytest.fixture
def platform(transactional_db):
    started: list[processes.Process] = []
    try:
        (web_a, url_a), (web_b, url_b) = processes.uvicorn(), processes.uvicorn()
        started += [web_a, web_b, processes.celery_worker("ops-one"), processes.celery_worker("ops-two")]
        beat = processes.celery_beat(loglevel="debug")
        started.append(beat)
        processes.wait_for_web(web_a, url_a)
        processes.wait_for_web(web_b, url_b)
        processes.wait_for_workers("ops-one", "ops-two")
        beat.wait_for_line("beat: Starting...", timeout=90)
        yield {"a": url_a, "b": url_b, "beat": beat}
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.stop(timeout=20)
            except AssertionError:
                pass  # stop() has killed it


def test_two_web_processes_and_two_workers_share_one_postgres_and_redis(platform, network):
    _a_request_on_one_web_process_reaches_a_socket_on_the_other(platform, network)
    _a_job_beat_enqueues_once_runs_once(platform)


def _a_request_on_one_web_process_reaches_a_socket_on_the_other(platform, network) -> None:
    user = UserFactory(network=network)
    browser = Client()
    browser.force_login(user)
    cookie = browser.cookies["sessionid"].value

    async def scenario():
        ws_url = platform["a"].replace("http", "ws", 1) + "/ws/"
        async with websockets.connect(
            ws_url,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            origin=platform["a"],
            open_timeout=10,
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello"
            async with httpx.AsyncClient(base_url=platform["b"], timeout=10) as http:
                login = await http.post(
                    "/_allauth/app/v1/auth/login", json={"email": user.email, "password": PASSWORD}
                )
                assert login.status_code == 200, login.text
                token = login.json()["meta"]["session_token"]
                revoked = await http.post(
                    "/api/v1/account/sessions/revoke-others/", headers={"X-Session-Token": token}
                )
                assert revoked.status_code == 200, revoked.text
                assert revoked.json() == {"revoked": 1}
            # other events may come first (the sign-in on B notifies the user's inbox)
            seen = []
            while "session.revoked" not in seen:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 4001

    asyncio.run(scenario())
    assert not Session.objects.filter(session_key=cookie).exists()


def _a_job_beat_enqueues_once_runs_once(platform) -> None:
    from config.celery import app

    token = uuid.uuid4().hex
    task = PeriodicTask.objects.create(
        name=f"ops-once-{token}",
        task="testapp.record_run",
        args=json.dumps([token]),
        clocked=ClockedSchedule.objects.create(clocked_time=timezone.now()),
        one_off=True,
    )
    redis = get_redis()
    wait_for(lambda: redis.llen(runs_key(token)) >= 1, timeout=60, message="beat's job to run")

    # let beat tick a few more times, then stop it: from then on nothing can enqueue the job again
    beat = platform["beat"]
    ticks = sum("beat: Waking up" in line for line in beat.lines)
    wait_for(
        lambda: sum("beat: Waking up" in line for line in beat.lines) >= ticks + 3,
        timeout=30,
        message="three more beat ticks",
    )
    assert beat.stop(timeout=20) == 0

    def idle():
        inspect = app.control.inspect(timeout=1)
        busy = [inspect.active() or {}, inspect.reserved() or {}, inspect.scheduled() or {}]
        return redis.llen("celery") == 0 and not any(tasks for state in busy for tasks in state.values())

    wait_for(idle, timeout=30, message="the queue empty and both workers idle")
    assert sum(f"Sending due task {task.name} " in line for line in beat.lines) == 1
    runs = redis.lrange(runs_key(token), 0, -1)
    assert len(runs) == 1
    assert runs[0].split("-")[0:2] in (["ops", "one"], ["ops", "two"])
