"""Nightly repair of the denormalised counters (drift from crashes or manual SQL).

Each statement recomputes one counter from its source rows and writes only the
rows that differ, so a clean database is a cheap no-op.
"""

from __future__ import annotations

from django.db import connection, transaction

_STATEMENTS = {
    "community.member_count": """
        UPDATE social_community c SET member_count = x.n FROM (
            SELECT c2.id, COUNT(m.id) AS n FROM social_community c2
            LEFT JOIN social_communitymember m ON m.community_id = c2.id AND m.status = 'active'
            GROUP BY c2.id) x
        WHERE x.id = c.id AND c.member_count <> x.n""",
    "community.post_count": """
        UPDATE social_community c SET post_count = x.n FROM (
            SELECT c2.id, COUNT(p.id) AS n FROM social_community c2
            LEFT JOIN social_post p ON p.community_id = c2.id AND p.status = 'published'
                AND p.reply_to_id IS NULL
            GROUP BY c2.id) x
        WHERE x.id = c.id AND c.post_count <> x.n""",
    "tag.post_count": """
        UPDATE social_tag t SET post_count = x.n FROM (
            SELECT t2.id, COUNT(p.id) AS n FROM social_tag t2
            LEFT JOIN social_posttag pt ON pt.tag_id = t2.id
            LEFT JOIN social_post p ON p.id = pt.post_id AND p.status = 'published' AND p.reply_to_id IS NULL
            GROUP BY t2.id) x
        WHERE x.id = t.id AND t.post_count <> x.n""",
    "post.reply_count": """
        UPDATE social_post p SET reply_count = x.n FROM (
            SELECT r.thread_root_id AS id, COUNT(*) AS n FROM social_post r
            WHERE r.thread_root_id IS NOT NULL AND r.status <> 'deleted' GROUP BY r.thread_root_id) x
        WHERE x.id = p.id AND p.reply_count <> x.n""",
    "post.reactions": """
        UPDATE social_post p SET reaction_counts = x.counts, score = x.total FROM (
            SELECT post_id, jsonb_object_agg(kind, n) AS counts, SUM(n)::int AS total FROM (
                SELECT post_id, kind, COUNT(*) AS n FROM social_postreaction GROUP BY post_id, kind) k
            GROUP BY post_id) x
        WHERE x.post_id = p.id AND (p.score <> x.total OR p.reaction_counts <> x.counts)""",
    "post.report_count": """
        UPDATE social_post p SET report_count = x.n FROM (
            SELECT p2.id, COUNT(r.id) AS n FROM social_post p2
            JOIN social_report r ON r.post_id = p2.id AND r.status = 'open' GROUP BY p2.id) x
        WHERE x.id = p.id AND p.report_count <> x.n""",
}


def recount() -> dict[str, int]:
    fixed: dict[str, int] = {}
    for name, sql in _STATEMENTS.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
            fixed[name] = cursor.rowcount
    return fixed
