"""Delivery through the configured backends, with provider errors sorted by retry safety."""

import smtplib
from email import encoders
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.urls import reverse

from portal.notifications.sms import (
    PermanentSendError,
    RetryableSendError,
    get_sms_backend,
)


def send_email(notification, rendered) -> str:
    message_id = make_msgid(domain=notification.clinic.canonical_domain)
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers={"Message-ID": message_id},
        connection=get_connection(fail_silently=False),
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    for attachment in rendered.attachments:
        message.attach(_mime_part(attachment))
    try:
        message.send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise PermanentSendError(f"smtp: refused ({type(exc).__name__})") from None
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise RetryableSendError(f"smtp: temporary failure ({exc.smtp_code})") from None
        raise PermanentSendError(f"smtp: refused ({exc.smtp_code})") from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise RetryableSendError(f"smtp: {type(exc).__name__}") from None
    return message_id


def _mime_part(attachment):
    """One attachment as a MIME part, with its Content-Type parameters (a calendar
    invitation needs ``method=REQUEST`` there, which ``EmailMessage.attach`` cannot set)."""
    maintype, subtype = attachment.mimetype.split("/", 1)
    if maintype == "text":
        part = MIMEText(attachment.content.decode("utf-8"), subtype, "utf-8")
    else:
        part = MIMEBase(maintype, subtype)
        part.set_payload(attachment.content)
        encoders.encode_base64(part)
    for key, value in attachment.params:
        part.set_param(key, value)
    part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
    return part


def send_sms(notification, rendered) -> str:
    callback = notification.clinic.build_url(
        reverse("hooks:twilio-status", urlconf=settings.ROOT_URLCONF)
    )
    return get_sms_backend().send(
        to=notification.recipient, body=rendered.text, status_callback=callback
    )


def deliver(notification, rendered) -> str:
    if notification.channel == notification.Channel.EMAIL:
        return send_email(notification, rendered)
    return send_sms(notification, rendered)
