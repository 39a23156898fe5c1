"""Chat writes (one function per use case; REST, the socket, admin and agents call these).

``conversations``: direct get-or-create, groups, channels, members, read cursors.
``messages``: send (seq, idempotent client_id, rate limit), edit, delete, reactions, typing.
"""

from .conversations import (
    add_members,
    check_can_dm,
    create_channel,
    create_community_channel,
    create_group,
    direct_key,
    direct_peer_id,
    get_or_create_direct,
    mark_read,
    mark_unread,
    remove_member,
    sync_channel_members,
    sync_community_channels,
    sync_project_channels,
    update_conversation,
    update_member,
)
from .messages import (
    add_reaction,
    clean_emoji,
    delete_message,
    edit_message,
    moderate_delete_message,
    remove_reaction,
    send_message,
    send_typing,
)

__all__ = [
    "add_members",
    "add_reaction",
    "check_can_dm",
    "clean_emoji",
    "create_channel",
    "create_community_channel",
    "create_group",
    "delete_message",
    "direct_key",
    "direct_peer_id",
    "edit_message",
    "get_or_create_direct",
    "mark_read",
    "mark_unread",
    "moderate_delete_message",
    "remove_member",
    "remove_reaction",
    "send_message",
    "send_typing",
    "sync_channel_members",
    "sync_community_channels",
    "sync_project_channels",
    "update_conversation",
    "update_member",
]
