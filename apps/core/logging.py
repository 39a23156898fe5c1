import logging

from .masking import redact


class RedactSecretsFilter(logging.Filter):
    """Masks secrets that slip into a log line (keys, tokens, DSN passwords)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
