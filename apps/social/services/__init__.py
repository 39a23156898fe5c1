"""Every social write with a rule (views, admin, tasks and other domains call these)."""

from .communities import (
    add_member,
    approve_member,
    archive_community,
    ban_member,
    create_community,
    expire_bans,
    join_community,
    leave_community,
    remove_member,
    set_member_role,
    unban_member,
    update_community,
)
from .graph import block_user, follow, unblock_user, unfollow
from .moderation import (
    hide_post,
    lock_thread,
    pin_post,
    set_tag_blocked,
    unhide_post,
    unlock_thread,
    unpin_post,
)
from .posts import create_post, delete_post, edit_post, is_new_account
from .ranking import refresh_hot_ranks
from .reactions import add_reaction, remove_reaction
from .reports import file_report, resolve_report

__all__ = [
    "add_member",
    "add_reaction",
    "approve_member",
    "archive_community",
    "ban_member",
    "block_user",
    "create_community",
    "create_post",
    "delete_post",
    "edit_post",
    "expire_bans",
    "file_report",
    "follow",
    "hide_post",
    "is_new_account",
    "join_community",
    "leave_community",
    "lock_thread",
    "pin_post",
    "refresh_hot_ranks",
    "remove_member",
    "remove_reaction",
    "resolve_report",
    "set_member_role",
    "set_tag_blocked",
    "unban_member",
    "unblock_user",
    "unfollow",
    "unhide_post",
    "unlock_thread",
    "unpin_post",
    "update_community",
]
