"""Delivery through the configured backends, with provider errors sorted by retry safety."""

import smtplib
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
