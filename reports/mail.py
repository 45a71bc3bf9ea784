"""The morning report's e-mail: built with `email.message.EmailMessage` (plain text, its HTML alternative and the
PDF attached) and sent with smtplib to the server SMTP_URL names, over TLS unless the URL says otherwise.

SMTP_URL's forms:
- ``smtp://user:pass@host:587``: STARTTLS, required (a server that does not offer it is a failed send: the
  password and the report never cross the network in clear);
- ``smtps://user:pass@host:465``: TLS from the first byte;
- ``smtp://host:25?tls=off``: no TLS, for a relay on the same machine (and the tests).
The user name and password are optional and URL-encoded. Certificates are checked against the system's trust
store (``ssl.create_default_context``; SSL_CERT_FILE names another bundle).
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from core.config import ConfigError

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: SMTP_URL, parsed."""

    host: str
    port: int
    security: str  # one of SECURITY
    username: str | None
    password: str | None
    timeout_seconds: float

    def __repr__(self) -> str:  # never the password
        return f"SmtpSettings({self.security}://{self.host}:{self.port}, user={'yes' if self.username else 'no'})"


def parse_smtp_url(url: str, timeout_seconds: float) -> SmtpSettings | None:
    """SMTP_URL as settings; None when it is empty. ConfigError names what is wrong (never the password)."""
    if not url.strip():
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigError("SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (TLS)")
    if not parts.hostname:
        raise ConfigError("SMTP_URL names no host, as in smtp://user:pass@mail.example.org:587")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ConfigError("SMTP_URL's port is not a number from 1 to 65535") from exc
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"tls"})
    if unknown:
        raise ConfigError(f"SMTP_URL: unknown parameter {unknown[0]!r} (only tls=off)")
    tls = query.get("tls", ["on"])[-1]
    if tls not in ("on", "off"):
        raise ConfigError("SMTP_URL: tls must be on or off")
    if tls == "off" and parts.scheme == "smtps":
        raise ConfigError("SMTP_URL: smtps:// is TLS; tls=off goes with smtp://")
    security = "tls" if parts.scheme == "smtps" else "starttls" if tls == "on" else "none"
    return SmtpSettings(host=parts.hostname, port=port, security=security,
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None,
                        timeout_seconds=timeout_seconds)


def check_sender(sender: str) -> str:
    """REPORT_FROM, checked: an address (with an optional display name)."""
    _, address = parseaddr(sender)
    if "@" not in address:
        raise ConfigError("REPORT_FROM must be an e-mail address, such as \"Careline <reports@example.org>\"")
    return sender


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


def compose(sender: str, to: tuple[str, ...], subject: str, text: str, html: str, attachment: Attachment,
            sent_at: datetime) -> EmailMessage:
    """The e-mail: text, its HTML alternative, and the attachment."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message.add_attachment(attachment.content, maintype=attachment.maintype, subtype=attachment.subtype,
                           filename=attachment.filename)
    return message


class SmtpMailer:
    """Sends an EmailMessage through one SMTP server; every failure is an exception (smtplib's, ssl's, OSError)."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def send(self, message: EmailMessage) -> int:
        """Send `message` to its To addresses; returns how many the server accepted (it refused the others)."""
        s = self.settings
        context = ssl.create_default_context()  # per send: the trust store (SSL_CERT_FILE) as it is now
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)  # SMTPNotSupportedError when the server offers none: not sent
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
            refused = smtp.send_message(message)  # SMTPRecipientsRefused when it takes none
        return len(message["To"].split(",")) - len(refused)
