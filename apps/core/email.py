"""Email through Amazon SES (raw MIME), for transactional mail in production."""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend


class SESEmailBackend(BaseEmailBackend):
    def open(self):
        if getattr(self, "_client", None) is None:
            self._client = boto3.client(
                "ses", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_SES_ENDPOINT_URL
            )
        return False

    def send_messages(self, email_messages) -> int:
        self.open()
        sent = 0
        for message in email_messages:
            try:
                self._client.send_raw_email(
                    Source=message.from_email,
                    Destinations=message.recipients(),
                    RawMessage={"Data": message.message().as_bytes()},
                )
                sent += 1
            except (BotoCoreError, ClientError):
                if not self.fail_silently:
                    raise
        return sent
