"""Fixtures of the mailing tests: a moto SES server (real HTTP), an SNS signer with a local certificate."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import threading
import uuid
from dataclasses import dataclass, field

import boto3
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from apps.mailing import sns
from tests.live import free_port

SENDER_DOMAIN = "colony.local"


@dataclass
class MotoSES:
    endpoint: str

    def client(self, service: str = "sesv2"):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def messages(self) -> list[dict]:
        """Every raw message moto's SES accepted (``/moto-api/data.json``)."""
        data = httpx.get(f"{self.endpoint}/moto-api/data.json", timeout=30).json()
        return data.get("ses", {}).get("RawMessage", [])

    def recipients(self) -> list[str]:
        out = []
        for message in self.messages():
            # moto adds the To: header's addresses to the API's destinations: one per message
            out.extend({address.lower() for address in message["destinations"]})
        return out

    def sent_count(self) -> int:
        return len(self.messages())


def ses_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_SES_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def _moto_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def moto_ses(_moto_server, settings) -> MotoSES:
    """moto in server mode, reset for the test; the sender domain is a verified identity."""
    httpx.post(f"{_moto_server}/moto-api/reset", timeout=10)
    for name, value in ses_environment(_moto_server).items():
        setattr(settings, name, value)
    ses = MotoSES(_moto_server)
    ses.client().create_email_identity(EmailIdentity=SENDER_DOMAIN)
    return ses


# --- SNS: a signing key, its certificate on a local HTTP server, signed messages ----------------


@dataclass
class SNSSigner:
    key: rsa.RSAPrivateKey
    cert_url: str
    hits: list[str] = field(default_factory=list)
    topic: str = "arn:aws:sns:us-east-1:123456789012:ses-events"

    def sign(self, message: dict) -> dict:
        message = {"SignatureVersion": "1", "SigningCertURL": self.cert_url, **message}
        algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303
        signature = self.key.sign(sns.string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}

    def notification(self, event: dict, *, message_id: str | None = None, version: str = "1") -> dict:
        return self.sign(
            {
                "Type": "Notification",
                "MessageId": message_id or str(uuid.uuid4()),
                "TopicArn": self.topic,
                "Message": json.dumps(event),
                "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "SignatureVersion": version,
            }
        )

    def subscription(self, subscribe_url: str) -> dict:
        return self.sign(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": str(uuid.uuid4()),
                "Token": "token-" + uuid.uuid4().hex,
                "TopicArn": self.topic,
                "Message": "You have chosen to subscribe to the topic.",
                "SubscribeURL": subscribe_url,
                "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            }
        )


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-east-1.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def _sns_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sns_signer(_sns_key, settings):
    """A local HTTP server serving the signing certificate (and recording SubscribeURL visits)."""
    pem = _self_signed(_sns_key)
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    settings.SES_SNS_HOST_PATTERN = r"^127\.0\.0\.1:\d+$"
    settings.SES_SNS_REQUIRE_HTTPS = False
    signer = SNSSigner(
        key=_sns_key, cert_url=f"http://127.0.0.1:{port}/SimpleNotificationService-test.pem", hits=hits
    )
    signer.base_url = f"http://127.0.0.1:{port}"
    yield signer
    server.shutdown()
