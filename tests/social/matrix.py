"""Cross-tenant matrix and org-policy walk cases of the social routes (registry: tests/matrix.py)."""

from __future__ import annotations

from apps.social import services
from apps.social.models import CommunityMember, Post
from tests.accounts.factories import UserFactory
from tests.matrix import Ctx, OrgCtx, create, detail, org_exempt, org_reached

from .factories import BlockFactory, CommunityFactory, CommunityMemberFactory, FollowFactory, PostFactory


def _community(ctx, **extra):
    community = CommunityFactory(network=ctx.network, owner_user=ctx.user, **extra)
    CommunityMemberFactory(community=community, user=ctx.user, role="owner")
    return community


def _post(ctx, **extra) -> Post:
    return PostFactory(author=ctx.user, **extra)


def _org_community(ctx: OrgCtx):
    community = CommunityFactory(network=ctx.network, owner_user=None, owner_organization=ctx.org)
    CommunityMemberFactory(community=community, user=ctx.user, role="moderator")
    return community


def _org_post(ctx: OrgCtx, **extra) -> Post:
    return PostFactory(author=ctx.user, community=_org_community(ctx), **extra)


# --- posts ------------------------------------------------------------------------------


@create("post-list")
def _post_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {}, {"body": "hello", "community": str(_community(other).pk)}


@detail("post-detail", methods=("get", "patch", "delete"), body={"body": "edited"})
def _post_detail(ctx: Ctx) -> dict:
    return {"pk": _post(ctx).pk}


@detail("post-thread", methods=("get",))
def _post_thread(ctx: Ctx) -> dict:
    return {"pk": _post(ctx).pk}


@detail("post-replies", methods=("post",), body={"body": "a reply"})
def _post_replies(ctx: Ctx) -> dict:
    return {"pk": _post(ctx).pk}


@create("post-replies")
def _reply_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    foreign = UserFactory(network=other.network)
    from apps.core.models import Upload

    upload = Upload.objects.create(
        network=other.network, uploader=foreign, kind="image", status="ready", file="x.png", mime="image/png"
    )
    return {"pk": _post(own).pk}, {"body": "x", "media": [{"upload": str(upload.pk)}]}


@detail("post-react", methods=("post",), body={"kind": "like"})
def _post_react(ctx: Ctx) -> dict:
    return {"pk": _post(ctx).pk}


@detail("post-unreact", methods=("delete",))
def _post_unreact(ctx: Ctx) -> dict:
    post = _post(ctx)
    services.add_reaction(actor=ctx.user, post=post, kind="like")
    return {"pk": post.pk, "kind": "like"}


def _register_moderation(verb: str, **post_extra) -> None:
    @detail(f"post-{verb}", methods=("post",))
    def _case(ctx: Ctx) -> dict:
        return {"pk": _post(ctx, community=_community(ctx), **post_extra).pk}

    @org_reached(f"post-{verb}", methods=("post",))
    def _org_case(ctx: OrgCtx) -> dict:
        return {"pk": _org_post(ctx, **post_extra).pk}


_register_moderation("hide")
_register_moderation("unhide", status="hidden")
_register_moderation("lock")
_register_moderation("unlock", locked_at="2026-01-01T00:00:00Z")
_register_moderation("pin")
_register_moderation("unpin", pinned_at="2026-01-01T00:00:00Z")


@detail("tag-posts", methods=("get",))
def _tag_posts(ctx: Ctx) -> dict:
    from .factories import TagFactory

    return {"slug": TagFactory(network=ctx.network).slug}


# org walk: lists must not show an org community's posts; detail routes refuse


@org_reached(
    "post-list",
    methods=("get", "post"),
    body=lambda ctx: {"body": "hi", "community": str(_org_community(ctx).pk)},
)
def _org_posts(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_post(ctx).pk))
    return {}


@org_reached("feed-list", methods=("get",))
def _org_feed(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_post(ctx).pk))
    return {}


@org_reached("post-detail", methods=("get", "patch", "delete"), body={"body": "edited"})
def _org_post_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_post(ctx).pk}


@org_reached("post-thread", methods=("get",))
def _org_thread(ctx: OrgCtx) -> dict:
    return {"pk": _org_post(ctx).pk}


@org_reached("post-replies", methods=("post",), body={"body": "reply"})
def _org_replies(ctx: OrgCtx) -> dict:
    return {"pk": _org_post(ctx).pk}


@org_reached("post-react", methods=("post",), body={"kind": "like"})
def _org_react(ctx: OrgCtx) -> dict:
    return {"pk": _org_post(ctx).pk}


@org_reached("post-unreact", methods=("delete",))
def _org_unreact(ctx: OrgCtx) -> dict:
    post = _org_post(ctx)
    services.add_reaction(actor=ctx.user, post=post, kind="like")
    return {"pk": post.pk, "kind": "like"}


org_exempt(
    "tag-posts",
    "the URL names a tag, not an org row; the org's posts are left out of the list by the base "
    "queryset (tests/social/test_org_policy.py proves it)",
)


# --- communities --------------------------------------------------------------------------


@create("community-list")
def _community_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    from tests.organizations.factories import OrganizationFactory

    org = OrganizationFactory(network=other.network, owner=other.user)
    return {}, {"slug": "made-here", "name": "x", "owner_organization": str(org.pk)}


@detail("community-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})
def _community_detail(ctx: Ctx) -> dict:
    return {"pk": _community(ctx).pk}


@detail("community-join", methods=("post",))
def _community_join(ctx: Ctx) -> dict:
    return {"pk": CommunityFactory(network=ctx.network).pk}


@detail("community-leave", methods=("post",))
def _community_leave(ctx: Ctx) -> dict:
    community = CommunityFactory(network=ctx.network)
    CommunityMemberFactory(community=community, user=ctx.user)
    return {"pk": community.pk}


@detail("community-members", methods=("get", "post"))
def _community_members(ctx: Ctx) -> dict:
    return {"community_pk": _community(ctx).pk}


@create("community-members")
def _community_member_add(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {"community_pk": _community(own).pk}, {"user": str(other.user.pk)}


@detail("community-bans", methods=("get", "post"))
def _community_bans(ctx: Ctx) -> dict:
    return {"community_pk": _community(ctx).pk}


@create("community-bans")
def _community_ban_add(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {"community_pk": _community(own).pk}, {"user": str(other.user.pk), "reason": "x"}


def _pending(ctx) -> CommunityMember:
    community = _community(ctx, visibility="restricted")
    return CommunityMemberFactory(community=community, status="pending")


@detail("community-member-detail", methods=("get", "patch", "delete"), body={"role": "moderator"})
def _community_member(ctx: Ctx) -> dict:
    return {"pk": CommunityMemberFactory(community=_community(ctx)).pk}


@detail("community-member-approve", methods=("post",))
def _community_member_approve(ctx: Ctx) -> dict:
    return {"pk": _pending(ctx).pk}


@detail("community-member-ban", methods=("post",))
def _community_member_ban(ctx: Ctx) -> dict:
    return {"pk": CommunityMemberFactory(community=_community(ctx)).pk}


@detail("community-member-unban", methods=("post",))
def _community_member_unban(ctx: Ctx) -> dict:
    return {"pk": CommunityMemberFactory(community=_community(ctx), status="banned").pk}


@org_reached(
    "community-list",
    methods=("get", "post"),
    body=lambda ctx: {"slug": "org-made", "name": "x", "owner_organization": str(ctx.org.pk)},
)
def _org_communities(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_community(ctx).pk))
    return {}


@org_reached("community-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})
def _org_community_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_community(ctx).pk}


@org_reached("community-join", methods=("post",))
def _org_join(ctx: OrgCtx) -> dict:
    return {"pk": _org_community(ctx).pk}


@org_reached("community-leave", methods=("post",))
def _org_leave(ctx: OrgCtx) -> dict:
    return {"pk": _org_community(ctx).pk}


@org_reached(
    "community-members",
    methods=("get", "post"),
    body=lambda ctx: {"user": str(UserFactory(network=ctx.network).pk)},
)
def _org_members(ctx: OrgCtx) -> dict:
    return {"community_pk": _org_community(ctx).pk}


@org_reached(
    "community-bans",
    methods=("get", "post"),
    body=lambda ctx: {"user": str(UserFactory(network=ctx.network).pk)},
)
def _org_bans(ctx: OrgCtx) -> dict:
    return {"community_pk": _org_community(ctx).pk}


@org_reached("community-member-detail", methods=("get", "patch", "delete"), body={"role": "moderator"})
def _org_member(ctx: OrgCtx) -> dict:
    return {"pk": CommunityMemberFactory(community=_org_community(ctx)).pk}


@org_reached("community-member-approve", methods=("post",))
def _org_member_approve(ctx: OrgCtx) -> dict:
    community = _org_community(ctx)
    return {"pk": CommunityMemberFactory(community=community, status="pending").pk}


@org_reached("community-member-ban", methods=("post",))
def _org_member_ban(ctx: OrgCtx) -> dict:
    return {"pk": CommunityMemberFactory(community=_org_community(ctx)).pk}


@org_reached("community-member-unban", methods=("post",))
def _org_member_unban(ctx: OrgCtx) -> dict:
    return {"pk": CommunityMemberFactory(community=_org_community(ctx), status="banned").pk}


@org_reached("moderation-log-list", methods=("get",))
def _org_modlog(ctx: OrgCtx) -> dict:
    post = _org_post(ctx)
    entry = services.hide_post(actor=ctx.user, post=post, reason="walk")
    from apps.social.models import ModerationLogEntry

    ctx.hidden.append(str(ModerationLogEntry.objects.get(target_id=entry.pk).pk))
    return {}


# --- people -----------------------------------------------------------------------------


@create("follow-list")
def _follow_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {}, {"followee_user": str(other.user.pk)}


@detail("follow-detail", methods=("get", "delete"))
def _follow(ctx: Ctx) -> dict:
    return {"pk": FollowFactory(follower=ctx.user, followee_user=UserFactory(network=ctx.network)).pk}


@detail("user-followers", methods=("get",))
def _user_followers(ctx: Ctx) -> dict:
    return {"user_pk": ctx.user.pk}


@detail("user-following", methods=("get",))
def _user_following(ctx: Ctx) -> dict:
    return {"user_pk": ctx.user.pk}


@create("block-list")
def _block_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {}, {"blocked": str(other.user.pk)}


@detail("block-detail", methods=("get", "delete"))
def _block(ctx: Ctx) -> dict:
    return {"pk": BlockFactory(blocker=ctx.user).pk}


@create("report-list")
def _report_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {}, {"post": str(_post(other).pk), "reason": "spam"}


def _report(ctx: Ctx):
    author = UserFactory(network=ctx.network)
    post = PostFactory(author=author, community=_community(ctx))
    report, _ = services.file_report(actor=ctx.user, post=post, reason="spam")
    return report


@detail("report-detail", methods=("get",))
def _report_detail(ctx: Ctx) -> dict:
    return {"pk": _report(ctx).pk}


@detail("report-resolve", methods=("post",), body={"status": "dismissed"})
def _report_resolve(ctx: Ctx) -> dict:
    return {"pk": _report(ctx).pk}


def _org_report(ctx: OrgCtx):
    reporter = UserFactory(network=ctx.network)
    report, _ = services.file_report(actor=reporter, post=_org_post(ctx), reason="spam")
    return report


@org_reached(
    "report-list",
    methods=("get", "post"),
    body=lambda ctx: {"post": str(_org_post(ctx).pk), "reason": "spam"},
)
def _org_report_list(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_report(ctx).pk))
    return {}


@org_reached("report-detail", methods=("get",))
def _org_report_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_report(ctx).pk}


@org_reached("report-resolve", methods=("post",), body={"status": "dismissed"})
def _org_report_resolve(ctx: OrgCtx) -> dict:
    return {"pk": _org_report(ctx).pk}
