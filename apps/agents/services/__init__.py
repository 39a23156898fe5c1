"""Agent services. Public names other domains call:

* ``request_agent_run(*, agent, trigger, conversation=None, message=None, project=None, task=None,
  instruction="", requested_by=None, scheduled_task=None)`` — chat (mention / DM), the dispatcher
  (a claimed task), the API (run-now); see ``runs``.
* ``run_agent(*, run)`` — the Celery job's body.
* ``deliver_output(*, agent, run, text)`` and ``hand_tool_calls(*, agent, run, tool_calls, require_approval)``
  — the chat and integrations seams of a run.
* agents (create / update / pause / resume / disable, project access), memory (remember / recall),
  schedules (create / update / dispatch) in their modules.
"""

from .agents import (
    create_agent,
    disable_agent,
    grant_project_access,
    pause_agent,
    resume_agent,
    revoke_project_access,
    update_agent,
)
from .changelog import log_change
from .memory import forget_fact, recall, remember, update_fact
from .runs import deliver_output, hand_tool_calls, request_agent_run, run_agent
from .schedules import (
    create_scheduled_task,
    delete_scheduled_task,
    dispatch_due_schedules,
    run_task_now,
    update_scheduled_task,
)

__all__ = [
    "create_agent",
    "create_scheduled_task",
    "delete_scheduled_task",
    "deliver_output",
    "disable_agent",
    "dispatch_due_schedules",
    "forget_fact",
    "grant_project_access",
    "hand_tool_calls",
    "log_change",
    "pause_agent",
    "recall",
    "remember",
    "request_agent_run",
    "resume_agent",
    "revoke_project_access",
    "run_agent",
    "run_task_now",
    "update_agent",
    "update_fact",
    "update_scheduled_task",
]
