# ruff: noqa: S608 — the SQL below is assembled from constant fragments; every value is a parameter
"""The lean read path of every post list: ONE SQL statement per page, plain dicts out.

``selectors`` keeps the ORM querysets (a post's detail, writes, the admin);
the lists — home, network, community, author, tag, thread and search — read
here instead, because at 1M posts the ORM cost more than the query did
(README, Social → Benchmark): compiling four statements, instantiating the
select_related models and three prefetch levels, building the Q trees.

* **The viewer's graph** (``viewer_graph``): followed users, organizations and
  communities, joined communities, blocked users and moderated communities —
  one statement on a miss, cached in Redis under a per-user generation token.
  Every write of a ``Follow``, ``Block`` or ``CommunityMember`` row replaces
  the token (``forget_graph``, from the model signals in ``receivers``: the
  services, cascades and any ORM write) at once and again on commit, so a
  cached graph is never read after the write that changed it. The sets go
  into the page query as literal arrays (``= ANY(%s::uuid[])``), not
  subqueries: the home feed's OR of sources is cheap to plan.
* **The page** (``fetch_page``): the rows of one keyset page with only the
  columns the API shows, the author, organization and community joined, the
  tags, media and the viewer's reactions folded in as array / JSON
  subqueries — one statement whatever the page size.
* **Search** ranks with ``ts_rank`` only the newest ``SEARCH_CANDIDATES``
  visible matches; ranking every match of a common word cost ~400 ms at 1M
  posts. They are found among the newest ``SEARCH_WINDOW`` published posts
  of the network (index ``post_net_published``) when that many visible ones
  match there, else by the GIN index (a rarer word) — the same set either way.
* **The output**: PostgreSQL writes each post's JSON (``json_build_object``, the
  timestamps as DRF formats them); Python joins the rows and adds the media
  URLs (the storage signs them) and the ``next`` link. The JSON equals
  ``PostSerializer``'s (tested).

Visibility is the SQL form of ``selectors.visible_posts_q`` and the
organization policy's ``restrict_queryset`` (both tested through the API).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.utils.urls import replace_query_param

from apps.accounts.models import User
from apps.core.ids import uuid7_floor
from apps.core.models import Upload
from apps.core.redis import get_redis
from apps.organizations.models import Organization

from .models import (
    Block,
    Community,
    CommunityMember,
    Follow,
    Post,
    PostMedia,
    PostReaction,
    PostTag,
    Tag,
)
from .permissions import is_authenticated, is_network_moderator
from .selectors import SORTS, TOP_WINDOWS

log = logging.getLogger(__name__)

#: search ranks the newest this many visible matches (a page holds at most 200)
SEARCH_CANDIDATES = 1000
#: how many of the newest visible posts search walks for them before it asks the GIN index
SEARCH_WINDOW = 20000
_MATCH = "p.search_vector @@ websearch_to_tsquery('english', %(q)s)"
_RANK = "ts_rank(p.search_vector, websearch_to_tsquery('english', %(q)s))"
GRAPH_TTL = 600  # seconds a cached graph lives (a lost invalidation heals by then)
GEN_TTL = 2 * 86400

_POST = Post._meta.db_table
_USER = User._meta.db_table
_ORG = Organization._meta.db_table
_COMMUNITY = Community._meta.db_table
_MEMBER = CommunityMember._meta.db_table
_FOLLOW = Follow._meta.db_table
_BLOCK = Block._meta.db_table
_TAG = Tag._meta.db_table
_POSTTAG = PostTag._meta.db_table
_MEDIA = PostMedia._meta.db_table
_REACTION = PostReaction._meta.db_table
_UPLOAD = Upload._meta.db_table
_UPLOAD_STORAGE = Upload._meta.get_field("file").storage


# --- the viewer's graph -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Graph:
    """The viewer's own edges, as id strings."""

    users: list[str] = field(default_factory=list)  # followed users
    organizations: list[str] = field(default_factory=list)  # followed organizations
    communities: list[str] = field(default_factory=list)  # followed communities
    joined: list[str] = field(default_factory=list)  # active memberships
    blocked: list[str] = field(default_factory=list)
    moderated: list[str] = field(default_factory=list)  # active moderator or owner rows

    def as_list(self) -> list[list[str]]:
        return [self.users, self.organizations, self.communities, self.joined, self.blocked, self.moderated]


EMPTY_GRAPH = Graph()

_GRAPH_SQL = f"""SELECT
 ARRAY(SELECT followee_user_id::text FROM {_FOLLOW}
       WHERE follower_id = %(u)s AND followee_user_id IS NOT NULL),
 ARRAY(SELECT followee_organization_id::text FROM {_FOLLOW}
       WHERE follower_id = %(u)s AND followee_organization_id IS NOT NULL),
 ARRAY(SELECT followee_community_id::text FROM {_FOLLOW}
       WHERE follower_id = %(u)s AND followee_community_id IS NOT NULL),
 ARRAY(SELECT community_id::text FROM {_MEMBER} WHERE user_id = %(u)s AND status = 'active'),
 ARRAY(SELECT blocked_id::text FROM {_BLOCK} WHERE blocker_id = %(u)s),
 ARRAY(SELECT community_id::text FROM {_MEMBER}
       WHERE user_id = %(u)s AND status = 'active' AND role IN ('moderator', 'owner'))"""


def _gen_key(user_id: Any) -> str:
    return f"social:graph-gen:{user_id}"


def _graph_key(user_id: Any) -> str:
    return f"social:graph:{user_id}"


def load_graph(user_id: Any) -> Graph:
    """The graph from the database (one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(_GRAPH_SQL, {"u": user_id})
        row = cursor.fetchone()
    return Graph(*(list(ids) for ids in row))


def viewer_graph(viewer: Any) -> Graph:
    """The viewer's graph: one Redis round trip when cached, else one statement (then cached)."""
    if not is_authenticated(viewer):
        return EMPTY_GRAPH
    uid = str(viewer.pk)
    gen_key, graph_key = _gen_key(uid), _graph_key(uid)
    try:
        redis = get_redis()
        gen, blob = redis.mget(gen_key, graph_key)
        if gen is not None and blob is not None:
            data = json.loads(blob)
            if data[0] == gen:
                return Graph(*data[1:])
        if gen is None:
            # the token is read BEFORE the rows: a write committing in between replaces it,
            # and what is stored below under the old token is never read
            token = secrets.token_hex(8)
            gen = token if redis.set(gen_key, token, nx=True, ex=GEN_TTL) else redis.get(gen_key)
    except RedisError:
        log.warning("social graph cache unavailable; reading the database", exc_info=True)
        return load_graph(uid)
    graph = load_graph(uid)
    if gen is not None:
        try:
            redis.set(graph_key, json.dumps([gen, *graph.as_list()]), ex=GRAPH_TTL)
        except RedisError:
            log.warning("social graph cache unavailable", exc_info=True)
    return graph


def forget_graph(user_id: Any) -> None:
    """The user's cached graph is stale: a new token now, and another once the transaction commits
    (a reader between the two may cache the old rows under the first token)."""
    if user_id is None:
        return
    key = _gen_key(user_id)

    def bump() -> None:
        try:
            get_redis().set(key, secrets.token_hex(8), ex=GEN_TTL)
        except RedisError:
            log.warning("social graph cache: invalidation of %s failed", user_id, exc_info=True)

    bump()
    transaction.on_commit(bump)


# --- who reads ------------------------------------------------------------------------------


@dataclass(slots=True)
class Reader:
    """The request as the page query needs it: network, viewer, graph, the org policy's verdict."""

    network_id: Any
    viewer_id: str | None
    moderator: bool
    graph: Graph
    refused_orgs: list[str]
    only_org: str | None

    @classmethod
    def of(cls, request: Any) -> Reader:
        from apps.organizations.policy import request_verdict

        viewer = request.user
        network = getattr(request, "network", None)
        authenticated = is_authenticated(viewer)
        verdict = request_verdict(request)
        return cls(
            network_id=getattr(network, "pk", None),
            viewer_id=str(viewer.pk) if authenticated else None,
            moderator=is_network_moderator(viewer),
            graph=viewer_graph(viewer) if authenticated else EMPTY_GRAPH,
            refused_orgs=[str(pk) for pk in verdict.refusals],
            only_org=str(verdict.only_organization_id) if verdict.only_organization_id is not None else None,
        )

    def moderates(self, community_id: str | None, community_owner_id: str | None) -> bool:
        """``api.posts.moderation_scope``: network moderators; moderators/owners of the community."""
        if self.moderator:
            return True
        if self.viewer_id is None or community_id is None:
            return False
        return community_id in self.graph.moderated or community_owner_id == self.viewer_id


# --- the query ------------------------------------------------------------------------------


@dataclass
class Listing:
    """One list: its conditions (SQL over ``p`` the post and ``c`` its community) and its order."""

    where: list[str]
    params: dict[str, Any]
    order: str = "new"  # new | hot | top | thread | rank
    joins: str = ""
    text: str | None = None  # search

    def add(self, sql: str, **params: Any) -> None:
        self.where.append(sql)
        self.params.update(params)


#: the sort keys per order (``KeysetPagination``'s cursor keys) and their SQL
_KEYS = {
    "new": ["id"],
    "hot": ["hot_rank", "id"],
    "top": ["score", "id"],
    "thread": ["id"],
    "rank": ["rank", "id"],
}
_KEY_SQL = {"hot_rank": "p.hot_rank", "score": "p.score", "rank": "r.rank", "id": "p.id"}
#: a cursor's first key as SQL: ts_rank is a real (float4), compared as one so the last row's value
#: (printed shortest, read back as a double) is exact
_KEY_PARAM = {"hot_rank": "%(after_key)s", "score": "%(after_key)s", "rank": "%(after_key)s::real"}
ROOTS = "p.status = 'published' AND p.reply_to_id IS NULL"


def base(reader: Reader) -> Listing | None:
    """The network and the organization policy (``NetworkScopedViewSet.get_queryset``); None = no rows."""
    if reader.network_id is None:  # fail closed, as get_queryset does
        return None
    listing = Listing(where=["p.network_id = %(network)s"], params={"network": reader.network_id})
    if reader.refused_orgs:
        listing.add(
            "(c.owner_organization_id IS NULL OR NOT (c.owner_organization_id = ANY(%(refused)s::uuid[])))",
            refused=reader.refused_orgs,
        )
    if reader.only_org is not None:
        listing.add("(c.owner_organization_id IS NULL OR c.owner_organization_id = %(only_org)s)",
                    only_org=reader.only_org)  # fmt: skip
    return listing


def add_visibility(listing: Listing, reader: Reader, *, community_checked: bool = False) -> None:
    """``selectors.visible_posts_q``."""
    if reader.viewer_id is None:
        listing.add("p.visibility = 'public'")
        if not community_checked:
            listing.add("(p.community_id IS NULL OR c.visibility IN ('public', 'restricted'))")
        return
    if reader.moderator:
        return
    graph = reader.graph
    listing.params["viewer"] = reader.viewer_id
    if graph.users:
        listing.add(
            "(p.visibility <> 'followers' OR p.author_id = %(viewer)s OR p.author_id = ANY(%(fu)s::uuid[]))",
            fu=graph.users,
        )
    else:
        listing.add("(p.visibility <> 'followers' OR p.author_id = %(viewer)s)")
    if not community_checked:
        joined = " OR p.community_id = ANY(%(joined)s::uuid[])" if graph.joined else ""
        listing.add(
            "(p.community_id IS NULL OR c.visibility IN ('public', 'restricted')"
            f"{joined} OR c.owner_user_id = %(viewer)s)",
            **({"joined": graph.joined} if graph.joined else {}),
        )


def add_without_blocked(listing: Listing, reader: Reader) -> None:
    if reader.graph.blocked:
        listing.add("NOT (p.author_id = ANY(%(blocked)s::uuid[]))", blocked=reader.graph.blocked)


def add_sort(listing: Listing, sort: str, window: str | None) -> None:
    """The order (``new`` by default), and for ``top`` its window (day/week/month/all) as an id range."""
    if sort not in SORTS:
        sort = "new"
    if sort == "top":
        span = TOP_WINDOWS.get(window or "all")
        if span is not None:  # UUIDv7 ids are time-ordered: the window is a pk range
            listing.add("p.id >= %(since)s", since=uuid7_floor(timezone.now() - span))
    listing.order = sort


def home(reader: Reader, *, sort: str, window: str | None) -> Listing | None:
    """The home feed: roots by followed users and orgs, in joined or followed communities,
    and your own."""
    listing = base(reader)
    if listing is None:
        return None
    graph = reader.graph
    listing.params["viewer"] = reader.viewer_id
    sources = ["p.author_id = %(viewer)s"]
    if graph.users:
        sources.append("p.author_id = ANY(%(fu)s::uuid[])")
        listing.params["fu"] = graph.users
    if graph.organizations:
        sources.append("p.owner_organization_id = ANY(%(fo)s::uuid[])")
        listing.params["fo"] = graph.organizations
    communities = sorted(set(graph.joined) | set(graph.communities))
    if communities:
        sources.append("p.community_id = ANY(%(fc)s::uuid[])")
        listing.params["fc"] = communities
    listing.add(ROOTS)
    # COALESCE hides the arms from the planner: with literal arrays it would OR bitmap scans of the
    # author/community indexes, fetch every matching root (thousands) and sort them; as one opaque
    # condition the (network, -id) / (network, -hot_rank, -id) index is read in order and stops at the page
    listing.add("COALESCE(" + " OR ".join(sources) + ", FALSE)")
    add_visibility(listing, reader)
    add_without_blocked(listing, reader)
    add_sort(listing, sort, window)
    return listing


def roots(reader: Reader, *, sort: str, window: str | None, community_checked: bool = False,
          **filters: Any) -> Listing | None:  # fmt: skip
    """The network / community / author / tag feeds: published roots."""
    listing = base(reader)
    if listing is None:
        return None
    listing.add(ROOTS)
    if "community" in filters:
        listing.add("p.community_id = %(community)s", community=filters["community"])
    if "author" in filters:
        listing.add("p.author_id = %(author)s", author=filters["author"])
    if "tag" in filters:
        listing.joins = f" JOIN {_POSTTAG} pt ON pt.post_id = p.id AND pt.tag_id = %(tag)s"
        listing.params["tag"] = filters["tag"]
    add_visibility(listing, reader, community_checked=community_checked)
    add_without_blocked(listing, reader)
    add_sort(listing, sort, window)
    return listing


def thread(reader: Reader, *, post_id: Any) -> Listing | None:
    """The thread of a post the reader may open (``visible_post``'s rule): every visible reply of
    its root, oldest first (tombstones included). The root is found by a subquery of the page's
    own statement — one round trip; an empty page is either a thread without replies or a post
    the reader may not open, which ``visible_post`` then tells apart (the view's 404)."""
    found = _visible_post_listing(reader, post_id)
    if found is None:
        return None
    listing = base(reader)
    # the subquery's own ``p``/``c`` (same aliases, inner scope) are the post and its community
    listing.add(
        f"p.thread_root_id = ({_visible_post_sql(found, 'COALESCE(p.thread_root_id, p.id)')})", **found.params
    )
    add_visibility(listing, reader)
    add_without_blocked(listing, reader)
    listing.order = "thread"
    return listing


def search(reader: Reader, *, text: str) -> Listing | None:
    """Search: published posts matching ``text`` (websearch syntax), best first
    among the newest ``SEARCH_CANDIDATES`` visible matches."""
    listing = base(reader)
    if listing is None:
        return None
    listing.add("p.status = 'published'")
    listing.add(_MATCH, q=text)
    add_visibility(listing, reader)
    add_without_blocked(listing, reader)
    listing.order = "rank"
    listing.text = text
    return listing


def _visible_post_listing(reader: Reader, pk: Any) -> Listing | None:
    listing = base(reader)
    if listing is None:
        return None
    listing.add("p.id = %(pk)s", pk=pk)
    add_visibility(listing, reader)
    return listing


def _visible_post_sql(listing: Listing, columns: str) -> str:
    """``SELECT columns`` of the post ``_visible_post_listing`` finds (over ``p`` and its ``c``)."""
    return (
        f"SELECT {columns} FROM {_POST} p "  # noqa: S608 — identifiers and fragments are constants
        f"LEFT JOIN {_COMMUNITY} c ON c.id = p.community_id WHERE {' AND '.join(listing.where)}"
    )


def visible_post(reader: Reader, pk: Any) -> tuple[str, str | None] | None:
    """(id, thread_root_id) of a post the reader may open (the thread's lookup), else None."""
    listing = _visible_post_listing(reader, pk)
    if listing is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_visible_post_sql(listing, "p.id::text, p.thread_root_id::text"), listing.params)
        return cursor.fetchone()


def community(network_id: Any, pk: Any) -> Community | None:
    """The community's access fields (for ``permissions.can_view``), one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, network_id, visibility, owner_user_id, owner_organization_id, archived_at "
            f"FROM {_COMMUNITY} WHERE network_id = %s AND id = %s",
            [network_id, pk],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Community(
        id=row[0], network_id=row[1], visibility=row[2], owner_user_id=row[3],
        owner_organization_id=row[4], archived_at=row[5],
    )  # fmt: skip


def tag(network_id: Any, slug: str) -> tuple[Any, bool] | None:
    """(id, is_blocked) of the network's tag ``slug``, one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, is_blocked FROM {_TAG} WHERE network_id = %s AND slug = %s", [network_id, slug]
        )
        return cursor.fetchone()


def _iso(column: str) -> str:
    """SQL: DRF's DateTimeField output of a timestamptz (ISO 8601 in UTC, ``Z``, microseconds only
    when there are any — ``datetime.isoformat``'s rule); NULL stays NULL."""
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )


#: the post's media (``md.items``) and their uploads (``md.files``: the storage writes the URLs)
_MEDIA_LATERAL = (
    "LEFT JOIN LATERAL (SELECT json_agg(json_build_object('id', m.id, 'kind', m.kind, 'url', NULL,"
    " 'mime', up.mime, 'width', m.width, 'height', m.height, 'duration_ms', m.duration_ms,"
    " 'alt_text', m.alt_text, 'position', m.position) ORDER BY m.position) AS items,"
    " json_agg(json_build_array(up.status, up.file) ORDER BY m.position) AS files"
    f" FROM {_MEDIA} m JOIN {_UPLOAD} up ON up.id = m.upload_id WHERE m.post_id = p.id) md ON TRUE"
)
#: one post as ``PostSerializer`` writes it, built by PostgreSQL (``pg.shown``: may the viewer see its content;
#: the author, organization and community are scalar subqueries, not joins: nothing to plan a join order for)
_POST_JSON = f"""json_build_object(
 'id', p.id,
 'author', (SELECT json_build_object('id', u.id, 'handle', u.handle, 'display_name', u.display_name,
                                     'is_ai', u.is_ai) FROM {_USER} u WHERE u.id = p.author_id),
 'owner_organization', (SELECT json_build_object('id', o.id, 'slug', o.slug, 'name', o.name)
                        FROM {_ORG} o WHERE o.id = p.owner_organization_id),
 'community', (SELECT json_build_object('id', c.id, 'slug', c.slug, 'name', c.name, 'visibility', c.visibility)
               FROM {_COMMUNITY} c WHERE c.id = p.community_id),
 'reply_to', p.reply_to_id,
 'thread_root', p.thread_root_id,
 'body', CASE WHEN pg.shown THEN p.body ELSE '' END,
 'body_html', CASE WHEN pg.shown THEN p.body_html ELSE '' END,
 'visibility', p.visibility,
 'status', p.status,
 'hidden_reason', p.hidden_reason,
 'locked_at', {_iso("p.locked_at")},
 'pinned_at', {_iso("p.pinned_at")},
 'edited_at', {_iso("p.edited_at")},
 'deleted_at', {_iso("p.deleted_at")},
 'created_at', {_iso("p.created_at")},
 'reply_count', p.reply_count,
 'last_reply_at', {_iso("p.last_reply_at")},
 'reaction_counts', p.reaction_counts,
 'score', p.score,
 'mentioned_user_ids', p.mentioned_user_ids,
 'media', CASE WHEN pg.shown AND md.items IS NOT NULL THEN md.items ELSE '[]'::json END,
 'tags', ARRAY(SELECT (SELECT t.slug FROM {_TAG} t WHERE t.id = pt2.tag_id) FROM {_POSTTAG} pt2
               WHERE pt2.post_id = p.id ORDER BY pt2.id),
 'my_reactions', {{reactions}}
)::text"""
_COLUMNS = f"{_POST_JSON}, CASE WHEN pg.shown THEN md.files END, p.id::text, p.hot_rank, p.score"
_JOINS = _MEDIA_LATERAL
# sorted as Python sorts strings (code points)
_MY_REACTIONS = (
    f"ARRAY(SELECT r.kind FROM {_REACTION} r WHERE r.post_id = p.id AND r.user_id = %(viewer)s"
    ' ORDER BY r.kind COLLATE "C")'
)
#: where each sort key sits in a row (search rows end with the rank)
_KEY_COLUMN = {"id": 2, "hot_rank": 3, "score": 4, "rank": 5}


def _shown(reader: Reader, params: dict[str, Any]) -> str:
    """SQL: ``PostSerializer._shows_content`` — published; hidden only to its author and moderators."""
    if reader.moderator:
        who = "TRUE"
    elif reader.viewer_id is None:
        who = "FALSE"
    else:
        params["viewer"] = reader.viewer_id
        who = "p.author_id = %(viewer)s OR c.owner_user_id = %(viewer)s"
        if reader.graph.moderated:
            params["moderated"] = reader.graph.moderated
            who += " OR p.community_id = ANY(%(moderated)s::uuid[])"
    return f"(p.status = 'published' OR (p.status <> 'deleted' AND ({who})))"


def _cursor_filter(listing: Listing, values: list[Any], *, prefix: str = "p.") -> str:
    """The keyset condition after the cursor's row (``KeysetPagination``'s, in SQL)."""
    op = ">" if listing.order == "thread" else "<"
    listing.params["after_id"] = values[-1]
    if len(values) == 1:
        return f"{prefix}id {op} %(after_id)s"
    key = _KEYS[listing.order][0]
    column, value = _KEY_SQL[key], _KEY_PARAM[key]
    listing.params["after_key"] = values[0]
    return f"{column} <= {value} AND ({column} < {value} OR {prefix}id {op} %(after_id)s)"


def fetch_page(listing: Listing, reader: Reader, *, cursor: list[Any] | None, size: int) -> list[tuple]:
    """Up to ``size`` rows of the page after ``cursor`` (decoded keys), in the listing's order.

    Two levels: the page's ids (the indexed scan, filters and order only: cheap to plan, as the
    bare query is), then the JSON of those rows alone."""
    params = dict(listing.params, size=size)
    listing = Listing(where=list(listing.where), params=params, order=listing.order, joins=listing.joins,
                      text=listing.text)  # fmt: skip
    if reader.viewer_id is not None:
        params["viewer"] = reader.viewer_id
        columns = _COLUMNS.replace("{reactions}", _MY_REACTIONS)
    else:
        columns = _COLUMNS.replace("{reactions}", "'{}'::text[]")
    joins = _JOINS
    shown = _shown(reader, params)
    where = " AND ".join(listing.where)
    if listing.order == "rank":
        # the newest visible matches, ts_rank over those only, then the page
        # The newest candidates two ways, exactly the same set: walking the newest SEARCH_WINDOW
        # visible posts by the (network, -id) index and stopping at SEARCH_CANDIDATES matches
        # (a common word: milliseconds, where the GIN bitmap of every match took ~300 ms at 1M
        # posts); only when fewer match there, the GIN index over all of them (a rarer word: few
        # matches, cheap). A one-time filter runs one branch.
        params["candidates"], params["window"] = SEARCH_CANDIDATES, SEARCH_WINDOW
        scan = f"{_POST} p LEFT JOIN {_COMMUNITY} c ON c.id = p.community_id"
        recent_where = " AND ".join(w for w in listing.where if w != _MATCH)
        after = f"WHERE {_cursor_filter(listing, cursor, prefix='r.')}" if cursor else ""
        # the window is the newest published posts of the network (the index alone); the match,
        # then visibility, are checked on its rows in order (a common word: most rows are cut by
        # the match before any join)
        # each candidate is ranked where it is found (its row is in hand), not looked up again
        inner = (
            "WITH recent AS MATERIALIZED ("
            f" SELECT p.id, {shown} AS shown, {_RANK} AS rank FROM (SELECT * FROM {_POST} w"
            "  WHERE w.network_id = %(network)s AND w.status = 'published' ORDER BY w.id DESC LIMIT %(window)s) p"
            f" LEFT JOIN {_COMMUNITY} c ON c.id = p.community_id"
            f" WHERE {_MATCH} AND {recent_where} ORDER BY p.id DESC LIMIT %(candidates)s"
            "), cand AS ("
            " SELECT id, shown, rank FROM recent WHERE (SELECT count(*) FROM recent) >= %(candidates)s"
            " UNION ALL"
            f" SELECT * FROM (SELECT p.id, {shown} AS shown, {_RANK} AS rank FROM {scan} WHERE {where}"
            "  ORDER BY p.id DESC LIMIT %(candidates)s) every"
            " WHERE (SELECT count(*) FROM recent) < %(candidates)s"
            f") SELECT r.id, r.rank, r.shown FROM cand r {after} ORDER BY r.rank DESC, r.id DESC LIMIT %(size)s"
        )
        sql = (
            f"SELECT {columns}, pg.rank FROM ({inner}) pg JOIN {_POST} p ON p.id = pg.id {joins} "
            "ORDER BY pg.rank DESC, p.id DESC"
        )
    else:
        if cursor:
            where += " AND " + _cursor_filter(listing, cursor)
        direction = "ASC" if listing.order == "thread" else "DESC"
        keys = _KEYS[listing.order]
        inner_order = ", ".join(f"{_KEY_SQL[k]} {direction}" for k in keys)
        outer_order = ", ".join(f"pg.{k} {direction}" for k in keys)
        key_columns = ", ".join(f"{_KEY_SQL[k]} AS {k}" for k in keys)
        inner = (
            f"SELECT {key_columns}, {shown} AS shown FROM {_POST} p LEFT JOIN {_COMMUNITY} c ON c.id = p.community_id"
            f"{listing.joins} WHERE {where} ORDER BY {inner_order} LIMIT %(size)s"
        )
        sql = f"SELECT {columns} FROM ({inner}) pg JOIN {_POST} p ON p.id = pg.id {joins} ORDER BY {outer_order}"
    with connection.cursor() as db:
        db.execute(sql, params)
        return db.fetchall()


# --- cursors ------------------------------------------------------------------------------------


def decode_cursor(raw: str | None, order: str) -> list[Any] | None:
    """``KeysetPagination``'s cursor: the last row's keys (a bad one is a 404, as there)."""
    if not raw:
        return None
    keys = _KEYS[order]
    try:
        values = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError
        values[-1] = UUID(values[-1])
        if len(keys) == 2 and (isinstance(values[0], bool) or not isinstance(values[0], int | float)):
            raise ValueError
    except (ValueError, TypeError, AttributeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DRFNotFound("Invalid cursor") from exc
    return values


def next_link(request: Any, order: str, row: Sequence[Any]) -> str:
    """The ``next`` URL after ``row`` (the cursor ``KeysetPagination`` writes)."""
    values = [row[_KEY_COLUMN[key]] for key in _KEYS[order]]
    packed = json.dumps(values, default=str).encode()
    cursor = base64.urlsafe_b64encode(packed).decode().rstrip("=")
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor)


# --- the output ---------------------------------------------------------------------------------


def _media_url(status: str, name: str) -> str | None:
    """``apps.core.uploads.upload_url``."""
    if status != "ready" or not name:
        return None
    return _UPLOAD_STORAGE.url(name)


def _with_media_urls(post_json: str, files: list[list[str]]) -> str:
    """A post's JSON with its media URLs (the storage writes them: signed, per file)."""
    post = json.loads(post_json)
    for item, (status, name) in zip(post["media"], files, strict=True):
        item["url"] = _media_url(status, name)
    return json.dumps(post, ensure_ascii=False, separators=(",", ":"))


def page_json(
    request: Any,
    listing: Listing | None,
    reader: Reader,
    *,
    size: int,
    when_empty: Callable[[], Any] | None = None,
) -> str:
    """The response body of one keyset page, ``{"next", "previous", "results"}``, as JSON text:
    PostgreSQL wrote every post; Python adds media URLs and the ``next`` link. ``when_empty`` is
    called when there are no rows (before the empty page is returned; it may raise)."""
    rows: list[tuple] = []
    if listing is not None:
        cursor = decode_cursor(request.query_params.get("cursor"), listing.order)
        rows = fetch_page(listing, reader, cursor=cursor, size=size + 1)
    if not rows:
        if when_empty is not None:
            when_empty()
        return '{"next":null,"previous":null,"results":[]}'
    more = len(rows) > size
    rows = rows[:size]
    link = next_link(request, listing.order, rows[-1]) if more and rows else None
    posts = ",".join(row[0] if row[1] is None else _with_media_urls(row[0], row[1]) for row in rows)
    return f'{{"next":{json.dumps(link)},"previous":null,"results":[{posts}]}}'
