"""Integration services. Public names other domains call:

* ``agent_tools(*, agent)`` — the function specs ``run_agent`` offers the model;
* ``propose_tool_calls(*, agent, run, tool_calls, require_approval)`` — a run's tool calls;
* ``request_tool_call(...)`` — one call through a grant (the agent-key API);
* connections, grants, approvals in their modules (``connections``, ``grants``, ``execution``).
"""

from .connections import (
    complete_connection,
    connect_direct,
    refresh_connection,
    revoke_connection,
    start_connection,
)
from .execution import (
    agent_tools,
    approve,
    cancel,
    execute_pending,
    expire_pending,
    propose_tool_calls,
    purge_logs,
    reap_stale_executions,
    reject,
    request_tool_call,
)
from .grants import grant_integration, revoke_grant, update_grant

__all__ = [
    "agent_tools",
    "approve",
    "cancel",
    "complete_connection",
    "connect_direct",
    "execute_pending",
    "expire_pending",
    "grant_integration",
    "propose_tool_calls",
    "purge_logs",
    "reap_stale_executions",
    "refresh_connection",
    "reject",
    "request_tool_call",
    "revoke_connection",
    "revoke_grant",
    "start_connection",
    "update_grant",
]
