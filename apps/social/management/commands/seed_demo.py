"""A realistic, reproducible social dataset, written with COPY.

    manage.py seed_demo --networks 10 --users 100000 --posts 1000000 [--seed 42]

Per network: users (a few agents among them), communities (public mostly,
some restricted/private), memberships, follows, tags; posts spread over the
last 30 days (UUIDv7 ids minted at their creation time, so ids and
``created_at`` agree), a fifth of them replies in a root's thread, reaction
counts and scores with a long tail, tags on a third of the roots. Counters
are written consistent with the rows; the hot rank comes from
``refresh_hot_ranks`` at the end. Rows go in through ``COPY … FROM STDIN``
(psycopg 3) in chunks, with a progress bar. The same ``--seed`` gives the
same data (ids aside).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from apps.accounts.models import User
from apps.networks.models import Network
from apps.social.models import (
    Community,
    CommunityMember,
    Follow,
    Post,
    PostTag,
    Tag,
)
from apps.social.services.ranking import refresh_hot_ranks

WORDS = (
    "django postgres python agents chat community launch release feature bug fix deploy review roadmap "
    "design schema index query cache redis celery socket stream feed search rank hot new top thread reply "
    "moderation report block follow share invite wave campaign email billing stripe usage token model prompt "
    "memory brain project sandbox database bucket bounty escrow ledger payout wallet milestone outcome "
    "verify judge claim lease tick dispatch worker beat cron schedule timezone network tenant org team"
).split()
REACTIONS = ("like", "love", "laugh", "wow", "sad", "insightful")
CHUNK = 20_000


def _uuid7_at(ms: int, rng: random.Random) -> uuid.UUID:
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62
    return uuid.UUID(int=value | rng.getrandbits(62))


class Copier:
    """COPY rows of a model: every concrete, non-generated column, typed from the catalogue."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid::regtype::text FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table],
            )
            types = dict(cursor.fetchall())
        self.columns = [f.column for f in self.fields]
        self.types = [types[c] for c in self.columns]
        self.sql = f'COPY "{table}" ({", ".join(self.columns)}) FROM STDIN'

    def row(self, obj: Any) -> tuple:
        out = []
        for field in self.fields:
            value = field.get_db_prep_save(getattr(obj, field.attname), connection)
            out.append(getattr(value, "obj", value))  # Jsonb adapter → the plain object
        return tuple(out)

    def copy(self, objects: Iterable[Any], *, total: int, label: str) -> int:
        from psycopg.types.json import Jsonb

        json_cols = {i for i, t in enumerate(self.types) if t == "jsonb"}
        written = 0
        with tqdm(total=total, desc=label, unit="row", leave=True) as bar:
            chunk: list[tuple] = []

            def flush() -> None:
                nonlocal written
                raw = connection.connection  # psycopg 3 connection under Django
                with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                    copy.set_types(self.types)
                    for row in chunk:
                        if json_cols:
                            row = tuple(Jsonb(v) if i in json_cols else v for i, v in enumerate(row))
                        copy.write_row(row)
                bar.update(len(chunk))

            for obj in objects:
                chunk.append(self.row(obj))
                written += 1
                if len(chunk) >= CHUNK:
                    flush()
                    chunk = []
            if chunk:
                flush()
        return written


class Command(BaseCommand):
    help = "Seed a realistic social dataset (COPY; reproducible by --seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--networks", type=int, default=2)
        parser.add_argument("--users", type=int, default=1000, help="in total, across the networks")
        parser.add_argument("--posts", type=int, default=10000, help="in total, across the networks")
        parser.add_argument("--communities", type=int, default=0, help="per network (default users/500, ≥ 5)")
        parser.add_argument("--follows", type=int, default=8, help="users each user follows")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--days", type=int, default=30, help="posts spread over this many days")

    def handle(self, *args: Any, **opts: Any) -> None:
        rng = random.Random(opts["seed"])
        now = timezone.now()
        n_networks = max(1, opts["networks"])
        users_per = max(2, opts["users"] // n_networks)
        posts_per = max(1, opts["posts"] // n_networks)
        communities_per = opts["communities"] or max(5, users_per // 500)
        run = uuid.UUID(int=rng.getrandbits(128)).hex[:6]
        slugs = [f"demo-{run}-{i}" for i in range(n_networks)]
        if Network.objects.filter(slug__in=slugs).exists():
            raise CommandError(f"Seed {opts['seed']} is already in this database: pass another --seed.")
        self.stdout.write(f"networks: {', '.join(slugs)}")
        for i, slug in enumerate(slugs):
            with transaction.atomic():  # one network at a time: an interrupted run leaves whole networks
                network = Network.objects.create(name=f"Demo {run} {i}", slug=slug, invite_only=False)
                self._seed_network(network, rng, now, users_per, posts_per, communities_per, opts)
        result = refresh_hot_ranks()
        self.stdout.write(self.style.SUCCESS(f"done; hot ranks: {result}"))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def _seed_network(self, network, rng, now, n_users, n_posts, n_communities, opts) -> None:
        joined = now - timedelta(days=365)
        users = [
            User(
                id=_uuid7_at(int((joined + timedelta(minutes=i)).timestamp() * 1000), rng),
                network=network,
                email=f"u{i}@{network.slug}.demo",
                handle=f"u{i}",
                display_name=f"User {i}",
                password=UNUSABLE_PASSWORD_PREFIX,  # no password: nobody signs in as a seeded user
                created_at=joined,
                updated_at=joined,
            )
            for i in range(n_users)
        ]
        for i in range(1, n_users, 50):  # one in fifty is an agent, owned by the user before it
            users[i].is_ai, users[i].agent_owner_user_id, users[i].agent_status = (
                True,
                users[i - 1].pk,
                "active",
            )
        Copier(User).copy(users, total=n_users, label=f"{network.slug} users")
        user_ids = [u.pk for u in users]

        communities = []
        for i in range(n_communities):
            visibility = "public" if i % 10 < 8 else ("restricted" if i % 10 == 8 else "private")
            communities.append(
                Community(
                    network=network, owner_user_id=user_ids[i % n_users], slug=f"c{i}", name=f"Community {i}",
                    description=" ".join(rng.choices(WORDS, k=12)), visibility=visibility,
                    created_at=joined, updated_at=joined,
                )
            )  # fmt: skip
        for community in communities:
            community.id = _uuid7_at(int(joined.timestamp() * 1000), rng)

        # memberships: each user joins 1–4 communities (popular ones more), owners as owner
        members: dict[tuple, CommunityMember] = {}
        for community in communities:
            members[(community.pk, community.owner_user_id)] = CommunityMember(
                network=network, community=community, user_id=community.owner_user_id, role="owner"
            )
        weights = [1 / (i + 1) for i in range(n_communities)]
        for uid in user_ids:
            for community in rng.choices(communities, weights=weights, k=rng.randint(1, 4)):
                members.setdefault(
                    (community.pk, uid), CommunityMember(network=network, community=community, user_id=uid)
                )
        counts: dict[Any, int] = {}
        for cid, _uid in members:
            counts[cid] = counts.get(cid, 0) + 1
        for community in communities:
            community.member_count = counts.get(community.pk, 0)

        tags = [
            Tag(network=network, slug=word, name=word, created_at=joined, updated_at=joined)
            for word in WORDS[:60]
        ]

        def stamped(rows: Iterable[Any]) -> Iterator[Any]:
            for row in rows:
                if row.pk is None:
                    row.id = _uuid7_at(int(joined.timestamp() * 1000), rng)
                row.created_at = row.updated_at = joined
                yield row

        # posts: ids minted at their creation time; replies into earlier roots of the same community
        span_ms = opts["days"] * 86400 * 1000
        start_ms = int(now.timestamp() * 1000) - span_ms
        stamps = sorted(rng.randrange(span_ms) + start_ms for _ in range(n_posts))
        posts: list[Post] = []
        post_tags: list[PostTag] = []
        roots: list[Post] = []
        tag_counts: dict[Any, int] = {}
        for ms in stamps:
            created = datetime.fromtimestamp(ms / 1000, tz=UTC)
            author = user_ids[min(int(rng.paretovariate(1.2)) - 1, n_users - 1) * 7 % n_users]
            community = rng.choice(communities) if rng.random() < 0.7 else None
            kinds = rng.sample(REACTIONS, k=rng.randint(0, 3))
            reaction_counts = {k: int(rng.paretovariate(1.5)) - 1 for k in kinds}
            score = sum(reaction_counts.values())
            post = Post(
                id=_uuid7_at(ms, rng), network=network, author_id=author, owner_user_id=author,
                community=community, body=" ".join(rng.choices(WORDS, k=rng.randint(6, 40))),
                reaction_counts=reaction_counts, score=score, created_at=created, updated_at=created,
            )  # fmt: skip
            if roots and rng.random() < 0.2:
                parent = rng.choice(roots[-5000:])
                post.reply_to_id = parent.pk
                post.thread_root_id = parent.pk
                post.community = parent.community
                parent.reply_count += 1
                parent.last_reply_at = created
            else:
                roots.append(post)
                if post.community is not None:
                    post.community.post_count += 1
                if rng.random() < 0.33:
                    for tag in rng.sample(tags, k=rng.randint(1, 3)):
                        post_tags.append(PostTag(network=network, post=post, tag=tag))
                        tag_counts[tag.slug] = tag_counts.get(tag.slug, 0) + 1
            post.body_html = f"<p>{post.body}</p>"
            posts.append(post)
        for tag in tags:
            tag.post_count = tag_counts.get(tag.slug, 0)

        Copier(Community).copy(
            stamped(communities), total=len(communities), label=f"{network.slug} communities"
        )
        Copier(CommunityMember).copy(
            stamped(members.values()), total=len(members), label=f"{network.slug} members"
        )
        follows: dict[tuple, Follow] = {}
        for uid in user_ids:
            for other in rng.sample(user_ids, k=min(opts["follows"], n_users - 1)):
                if other != uid:
                    follows.setdefault(
                        (uid, other), Follow(network=network, follower_id=uid, followee_user_id=other)
                    )
            if rng.random() < 0.3:
                community = rng.choice(communities)
                follows.setdefault(
                    (uid, community.pk),
                    Follow(network=network, follower_id=uid, followee_community=community),
                )
        Copier(Follow).copy(stamped(follows.values()), total=len(follows), label=f"{network.slug} follows")
        Copier(Tag).copy(stamped(tags), total=len(tags), label=f"{network.slug} tags")
        Copier(Post).copy(posts, total=len(posts), label=f"{network.slug} posts")
        Copier(PostTag).copy(stamped(post_tags), total=len(post_tags), label=f"{network.slug} post tags")
