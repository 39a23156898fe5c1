"""Campaign mail through SES v2 (``sesv2.send_email`` with raw MIME), and what its errors mean.

botocore's own retries are OFF (``total_max_attempts=1``): a retried send whose
first attempt SES accepted would be a duplicate. The sender decides: a
throttle or a refused connection was certainly not sent (re-queue); a
rejection fails the row; anything ambiguous (a read timeout) fails it too,
never re-sent.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.conf import settings

_local = threading.local()
# long List-Unsubscribe URLs must stay literal (no RFC 2047 words): fold only past RFC 5322's 998
_POLICY = SMTP.clone(max_line_length=998)

THROTTLED_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "ServiceUnavailable",
    }
)
ACCOUNT_CODES = frozenset(
    {"SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException"}
)


class Outcome(enum.Enum):
    SENT = "sent"
    THROTTLED = "throttled"  # not sent: re-queue with backoff
    NOT_SENT = "not_sent"  # could not connect: re-queue with backoff
    ACCOUNT = "account"  # SES refuses the account/sender: pause the campaign, re-queue
    FAILED = "failed"  # SES refused this message
    UNKNOWN = "unknown"  # may or may not have gone: never re-sent


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    message_id: str | None = None
    error: str = ""


def client() -> Any:
    """One sesv2 client per thread (boto3 clients are thread-safe to use, not to create)."""
    key = (settings.AWS_REGION, settings.AWS_SES_ENDPOINT_URL, settings.AWS_ACCESS_KEY_ID)
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != key:
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # no retries (max_attempts=1 means 2)
            connect_timeout=5,
            read_timeout=20,
            max_pool_connections=10,
        )
        ses = boto3.client(
            "sesv2",
            region_name=settings.AWS_REGION,
            endpoint_url=settings.AWS_SES_ENDPOINT_URL,
            aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
            aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
            config=config,
        )
        _local.client = cached = (key, ses)
    return cached[1]


def build_message(
    *,
    from_name: str,
    from_email: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    reply_to: str | None,
    unsubscribe_post_url: str,
    unsubscribe_mailto: str,
    headers: dict[str, str] | None = None,
) -> bytes:
    """MIME multipart/alternative with RFC 8058 one-click unsubscribe headers."""
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = subject
    message["From"] = formataddr((from_name, from_email)) if from_name else from_email
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["List-Unsubscribe"] = (
        f"<{unsubscribe_post_url}>, <mailto:{unsubscribe_mailto}?subject=unsubscribe>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text or " ")
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def send_raw(
    *, from_email: str, to: str, raw: bytes, configuration_set: str | None, tags: dict[str, str]
) -> Result:
    params: dict[str, Any] = {
        "FromEmailAddress": from_email,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Raw": {"Data": raw}},
        "EmailTags": [{"Name": k, "Value": v} for k, v in tags.items()],
    }
    if configuration_set:
        params["ConfigurationSetName"] = configuration_set
    try:
        response = client().send_email(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        text = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"[:1000]
        if code in THROTTLED_CODES:
            return Result(Outcome.THROTTLED, error=text)
        if code in ACCOUNT_CODES:
            return Result(Outcome.ACCOUNT, error=text)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        return Result(Outcome.UNKNOWN if status >= 500 else Outcome.FAILED, error=text)
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        return Result(Outcome.NOT_SENT, error=str(exc)[:1000])
    except (ReadTimeoutError, ConnectionClosedError) as exc:
        return Result(Outcome.UNKNOWN, error=f"delivery unknown: {exc}"[:1000])
    except BotoCoreError as exc:
        return Result(Outcome.UNKNOWN, error=f"delivery unknown: {exc}"[:1000])
    return Result(Outcome.SENT, message_id=response.get("MessageId"))
