"""Account mail of this app (email change, deletion, exports).

Transactional: these messages are never subject to campaign suppression
(password reset and email-change mail always go).
"""

from __future__ import annotations

from typing import Any

from apps.core.mail import send_mail_on_commit


def send_account_mail_on_commit(*, to: str, template: str, context: dict[str, Any], network: Any) -> None:
    """``templates/preferences/emails/<template>_{subject,body}.txt``, sent after commit."""
    send_mail_on_commit(
        to=to, template=f"preferences/emails/{template}", context=context, network=network, essential=True
    )
