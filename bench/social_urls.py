# ruff: noqa: S608 — constant SQL below; every value is a query parameter
"""The project's URLs plus bare views serving the same feed pages from ONE raw SQL query each.

No authentication, no middleware work beyond Django's, no serializer: the floor
the social endpoints are compared against (same rows, same page size).
"""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.urls import path

from apps.social.reads import SEARCH_CANDIDATES, SEARCH_WINDOW
from bench.urls import urlpatterns as bench_urlpatterns

COLUMNS = (
    "p.id, p.body, p.body_html, p.created_at, p.reply_count, p.reaction_counts, p.score, "
    "p.community_id, u.id, u.handle, u.display_name"
)
ROOTS = "p.status = 'published' AND p.reply_to_id IS NULL"
SQL = {
    "home": (
        f"SELECT {COLUMNS} FROM social_post p JOIN accounts_user u ON u.id = p.author_id "
        f"WHERE p.network_id = %(network)s AND {ROOTS} AND ("
        " p.author_id = %(viewer)s"
        " OR p.author_id IN (SELECT followee_user_id FROM social_follow WHERE follower_id = %(viewer)s"
        "   AND followee_user_id IS NOT NULL)"
        " OR p.community_id IN (SELECT community_id FROM social_communitymember WHERE user_id = %(viewer)s"
        "   AND status = 'active')"
        " OR p.community_id IN (SELECT followee_community_id FROM social_follow WHERE follower_id = %(viewer)s"
        "   AND followee_community_id IS NOT NULL)) "
        "ORDER BY {order} LIMIT %(size)s"
    ),
    "community": (
        f"SELECT {COLUMNS} FROM social_post p JOIN accounts_user u ON u.id = p.author_id "
        f"WHERE p.community_id = %(target)s AND {ROOTS} ORDER BY {{order}} LIMIT %(size)s"
    ),
    "thread": (
        f"SELECT {COLUMNS} FROM social_post p JOIN accounts_user u ON u.id = p.author_id "
        "WHERE p.thread_root_id = %(target)s ORDER BY p.id LIMIT %(size)s"
    ),
    # the same page as ours, found the same way (apps/social/reads.py): ts_rank over the newest
    # SEARCH_CANDIDATES matches (each ranked where it is found), taken from the newest SEARCH_WINDOW
    # posts when enough match there, else through the GIN index
    "search": (
        "WITH recent AS MATERIALIZED (SELECT w.id, ts_rank(w.search_vector, websearch_to_tsquery('english', %(q)s))"
        " AS rank FROM (SELECT p.id, p.search_vector FROM social_post p"
        " WHERE p.network_id = %(network)s AND p.status = 'published' ORDER BY p.id DESC LIMIT %(window)s) w"
        " WHERE w.search_vector @@ websearch_to_tsquery('english', %(q)s) ORDER BY w.id DESC LIMIT %(candidates)s),"
        " cand AS (SELECT id, rank FROM recent WHERE (SELECT count(*) FROM recent) >= %(candidates)s UNION ALL"
        " SELECT * FROM (SELECT p.id, ts_rank(p.search_vector, websearch_to_tsquery('english', %(q)s)) AS rank"
        " FROM social_post p WHERE p.network_id = %(network)s AND p.status = 'published'"
        " AND p.search_vector @@ websearch_to_tsquery('english', %(q)s) ORDER BY p.id DESC LIMIT %(candidates)s)"
        " every WHERE (SELECT count(*) FROM recent) < %(candidates)s)"
        f" SELECT {COLUMNS} FROM (SELECT cand.id, cand.rank FROM cand ORDER BY cand.rank DESC, cand.id DESC"
        " LIMIT %(size)s) r JOIN social_post p ON p.id = r.id JOIN accounts_user u ON u.id = p.author_id "
        "ORDER BY r.rank DESC, p.id DESC"
    ),
}
ORDER = {"new": "p.id DESC", "hot": "p.hot_rank DESC, p.id DESC"}


def bare_feed(request, kind: str):
    params = {
        "network": request.GET.get("network"),
        "viewer": request.GET.get("viewer"),
        "target": request.GET.get("target"),
        "q": request.GET.get("q", ""),
        "size": min(int(request.GET.get("size", 20)), 200),
        "candidates": SEARCH_CANDIDATES,
        "window": SEARCH_WINDOW,
    }
    sql = SQL[kind].replace("{order}", ORDER.get(request.GET.get("sort", "new"), "p.id DESC"))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    results = [
        {
            "id": str(r[0]), "body": r[1], "body_html": r[2], "created_at": r[3].isoformat(),
            "reply_count": r[4], "reaction_counts": r[5], "score": r[6],
            "community": str(r[7]) if r[7] else None,
            "author": {"id": str(r[8]), "handle": r[9], "display_name": r[10]},
        }
        for r in rows
    ]  # fmt: skip
    return JsonResponse({"results": results, "next": None})


urlpatterns = [path("bench/social/<str:kind>", bare_feed), *bench_urlpatterns]
