"""Cross-tenant matrix cases of the chat routes (registry: tests/matrix.py)."""

from __future__ import annotations

from tests.accounts.factories import UserFactory
from tests.matrix import Ctx, OrgCtx, create, detail, org_reached
from tests.projects.factories import OrgProjectFactory, ProjectFactory

from .factories import direct, group, send


def _group(ctx: Ctx):
    return group(ctx.user, UserFactory(network=ctx.network))


@detail("conversation-detail", methods=("get", "patch"), body={"title": "Renamed"})
def _conversation(ctx: Ctx) -> dict:
    return {"pk": _group(ctx).pk}


@create("conversation-list")
def _conversation_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # a direct conversation with a user of the other network: 400, nothing written
    return {}, {"kind": "direct", "user_id": str(other.user.pk)}


@detail("conversation-read", methods=("post",), body={"seq": 1})
def _read(ctx: Ctx) -> dict:
    conversation = _group(ctx)
    send(ctx.user, conversation)
    return {"pk": conversation.pk}


@detail("conversation-unread", methods=("post",), body={"seq": 1})
def _unread(ctx: Ctx) -> dict:
    conversation = _group(ctx)
    send(ctx.user, conversation)
    return {"pk": conversation.pk}


@detail("conversation-members", methods=("get", "post"))
def _members(ctx: Ctx) -> dict:
    return {"pk": _group(ctx).pk}


@create("conversation-members")
def _members_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # adding a user of the other network: 400
    return {"pk": _group(own).pk}, {"user_ids": [str(other.user.pk)]}


@detail("conversation-messages", methods=("get", "post"), body={"body": "hi"})
def _messages(ctx: Ctx) -> dict:
    return {"pk": _group(ctx).pk}


@create("conversation-messages")
def _message_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # replying to a message of the other network's conversation: 400
    foreign = send(other.user, direct(other.user))
    return {"pk": _group(own).pk}, {"body": "re", "reply_to": str(foreign.pk)}


@detail("conversation-member-detail", methods=("patch", "delete"), body={"notify": "mentions"})
def _member(ctx: Ctx) -> dict:
    conversation = _group(ctx)
    return {"pk": conversation.members.get(user=ctx.user).pk}


@detail("message-detail", methods=("get", "patch", "delete"), body={"body": "edited"})
def _message(ctx: Ctx) -> dict:
    return {"pk": send(ctx.user, _group(ctx)).pk}


@detail("message-thread", methods=("get",))
def _thread(ctx: Ctx) -> dict:
    return {"pk": send(ctx.user, _group(ctx)).pk}


@detail("message-reactions", methods=("post",), body={"emoji": "👍"})
def _reactions(ctx: Ctx) -> dict:
    return {"pk": send(ctx.user, _group(ctx)).pk}


@detail("message-reaction", methods=("delete",))
def _reaction(ctx: Ctx) -> dict:
    from apps.chat import services

    message = send(ctx.user, _group(ctx))
    services.add_reaction(actor=ctx.user, message=message, emoji="👍")
    return {"pk": message.pk, "emoji": "👍"}


# --- the organization policy walk: a channel of an org-owned project ---------------------


def _org_channel(ctx: OrgCtx):
    from apps.chat import services

    project = OrgProjectFactory(owner_organization=ctx.org, network=ctx.network)
    return services.create_channel(actor=ctx.user, project=project, title="Org channel")


def _org_message(ctx: OrgCtx):
    return send(ctx.user, _org_channel(ctx), "org news")


@org_reached(
    "conversation-list",
    methods=("get", "post"),
    body=lambda ctx: {
        "kind": "channel",
        "title": "Another",
        "project": str(OrgProjectFactory(owner_organization=ctx.org, network=ctx.network).pk),
    },
)
def _org_conversations(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_channel(ctx).pk))
    return {}


@org_reached("conversation-detail", methods=("get", "patch"), body={"title": "Renamed"})
def _org_conversation(ctx: OrgCtx) -> dict:
    return {"pk": _org_channel(ctx).pk}


@org_reached("conversation-read", methods=("post",), body={"seq": 0})
def _org_read(ctx: OrgCtx) -> dict:
    return {"pk": _org_message(ctx).conversation_id}


@org_reached("conversation-unread", methods=("post",), body={"seq": 1})
def _org_unread(ctx: OrgCtx) -> dict:
    return {"pk": _org_message(ctx).conversation_id}


@org_reached(
    "conversation-members", methods=("get", "post"), body=lambda ctx: {"user_ids": [str(ctx.user.pk)]}
)
def _org_members(ctx: OrgCtx) -> dict:
    return {"pk": _org_channel(ctx).pk}


@org_reached("conversation-messages", methods=("get", "post"), body={"body": "hi"})
def _org_messages(ctx: OrgCtx) -> dict:
    return {"pk": _org_channel(ctx).pk}


@org_reached("conversation-member-detail", methods=("patch", "delete"), body={"notify": "mentions"})
def _org_member(ctx: OrgCtx) -> dict:
    return {"pk": _org_channel(ctx).members.get(user=ctx.user).pk}


@org_reached("message-detail", methods=("get", "patch", "delete"), body={"body": "edited"})
def _org_message_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_message(ctx).pk}


@org_reached("message-thread", methods=("get",))
def _org_thread(ctx: OrgCtx) -> dict:
    return {"pk": _org_message(ctx).pk}


@org_reached("message-reactions", methods=("post",), body={"emoji": "👍"})
def _org_reactions(ctx: OrgCtx) -> dict:
    return {"pk": _org_message(ctx).pk}


@org_reached("message-reaction", methods=("delete",))
def _org_reaction(ctx: OrgCtx) -> dict:
    from apps.chat import services

    message = _org_message(ctx)
    services.add_reaction(actor=ctx.user, message=message, emoji="👍")
    return {"pk": message.pk, "emoji": "👍"}


@org_reached("message-search", methods=("get",))
def _org_search(ctx: OrgCtx) -> dict:
    # the walk's GET carries no ``q`` (400 either way); tests/chat/test_org_policy.py proves
    # that a search under a refusing policy leaves the org's messages out
    _org_message(ctx)
    return {}


__all__ = ["ProjectFactory"]
