"""Cross-tenant matrix cases of the sharing routes (registry: tests/matrix.py)."""

from __future__ import annotations

from apps.sharing import services
from tests.matrix import Ctx, create, detail
from tests.social.factories import PostFactory


@create("share-list")
def _share_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    foreign = PostFactory(author=other.user)
    return {}, {"target_type": "post", "target_id": str(foreign.pk), "channel": "x"}


@detail("share-detail", methods=("get",))
def _share_detail(ctx: Ctx) -> dict:
    share, _ = services.create_share(
        actor=ctx.user, target_type="post", target_id=PostFactory(author=ctx.user).pk
    )
    return {"pk": share.pk}
