"""``apps.core.redis.Ahead``: commands sent now, replies read later, and a connection never returned
to the pool with replies still unread."""

from __future__ import annotations

from apps.core.redis import Ahead, get_redis, key


def test_replies_arrive_in_order_after_other_work():
    r = get_redis()
    name = key("test-ahead", "a")
    r.delete(name)
    r.set(name, "1")
    ahead = Ahead([("GET", name), ("INCR", name), ("EXISTS", key("test-ahead", "missing"))])
    r.set(key("test-ahead", "other"), "x")  # other Redis work meanwhile, on another connection
    assert ahead.result() == ["1", 2, 0]
    assert r.get(name) == "2"


def test_a_closed_ahead_drops_its_connection_instead_of_leaking_its_replies():
    r = get_redis()
    name = key("test-ahead", "b")
    r.set(name, "value")
    pool = r.connection_pool
    ahead = Ahead([("GET", name)])
    ahead.close()  # the caller failed before reading the reply
    # whatever connection the pool hands out next answers its own command, not the dropped reply
    for _ in range(pool.max_connections + 1):
        assert r.ping() is True
    assert r.get(name) == "value"


def test_nothing_to_ask_costs_no_connection():
    assert Ahead([]).result() == []
