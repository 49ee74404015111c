"""Patient portal: the inbox, a thread with its reply form, a new message, attachments.

Every view needs a signed-in portal account whose grant includes messages; every thread
and attachment is fetched through an access helper that 404s outside the patient the
request acts for.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.timezone import get_current_timezone_name
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from messaging import selectors, services
from messaging.downloads import attachment_response
from messaging.forms import NewThreadForm, ReplyForm, blank_reply_form_html
from messaging.models import Thread
from messaging.page_cache import cached_page
from messaging.policy import patient_may_reply, patient_may_send, patient_may_start
from patients.access import patient_required
from patients.drafts import draft_take, keeps_draft
from portal.core.cache import page_number_for_key

THREADS_PER_PAGE = 20


def _refused(request, what):
    """The clinic's settings do not allow this: say so (and whom to call), as a 403."""
    pending = not patient_may_send(
        patient=request.patient, portal_settings=request.clinic.portal_settings
    )
    context = {"what": what, "pending": pending}
    return render(request, "messaging/not_allowed.html", context, status=403)


def _variant(*extra):
    return (get_language(), get_current_timezone_name(), *extra)


@patient_required(scope="messages")
def inbox(request):
    """The chart's threads; the list comes from the cache while none of the chart's
    messages has changed (messaging/page_cache.py)."""
    clinic, patient = request.clinic, request.patient
    page_number = page_number_for_key(request.GET.get("page"))

    def render_list():
        threads = selectors.threads_for_patient(clinic=clinic, patient=patient)
        context = {
            "page": Paginator(threads, THREADS_PER_PAGE).get_page(page_number),
            "unread_total": selectors.unread_count_for_patient(clinic=clinic, patient=patient),
        }
        return render_to_string("messaging/_inbox_list.html", context), True

    context = {
        "threads_html": mark_safe(  # noqa: S308 - the template's own output, escaped when rendered
            cached_page(
                clinic=clinic,
                patient=patient,
                page="inbox",
                variant=_variant(page_number),
                render=render_list,
            )
        ),
        "may_start": patient_may_start(patient=patient, portal_settings=clinic.portal_settings),
    }
    return render(request, "messaging/inbox.html", context)


@keeps_draft("body")
@patient_required(scope="messages")
def thread_detail(request, pk):
    """The conversation, and the reply form when the clinic accepts replies.

    The conversation comes from the cache while none of the chart's messages has changed
    (messaging/page_cache.py); a view that reads new messages marks them read (and is
    audited), other views are audited as ``services.thread_record_view`` says."""
    clinic, patient = request.clinic, request.patient
    portal_settings = clinic.portal_settings
    may_reply = patient_may_reply(patient=patient, portal_settings=portal_settings)
    form = None
    if request.method == "POST":
        thread = selectors.get_thread_for_portal(request, pk)
        if not may_reply:
            return _refused(request, "reply")
        form = ReplyForm(request.POST, request.FILES, portal_settings=portal_settings)
        if form.is_valid():
            try:
                services.message_post(
                    thread=thread,
                    body=form.cleaned_data["body"],
                    author=request.user,
                    access=request.access,
                    attachments=form.cleaned_data["attachments"],
                    request=request,
                )
            except services.MessagingRefused:
                return _refused(request, "reply")
            messages.success(request, _("Message sent."))
            return redirect("portal:messages-thread", pk=thread.pk)
    elif may_reply:
        # A reply kept across the idle timeout comes back in a real form; otherwise the
        # blank form rendered once per process.
        draft = draft_take(request)
        if draft:
            form = ReplyForm(initial=draft, portal_settings=portal_settings)
        else:
            form = blank_reply_form_html(portal_settings=portal_settings)

    loaded = []

    def render_conversation():
        # The access check: 404 unless the thread is in the chart the request acts for.
        thread = selectors.get_thread_for_portal(request, pk)
        loaded.append(thread)
        # Shown as they were before this visit (what is new is marked), then marked read.
        conversation = list(thread.messages.all())
        selectors.mark_clinic_status(conversation)
        unread = sum(message.unread_by_patient for message in conversation)
        context = {"conversation": conversation, "clinic": clinic}
        page = {
            "subject": thread.subject,
            "category": thread.get_category_display(),
            "answered": thread.answered,
            "messages": len(conversation),
            "unread": unread,
            "html": mark_safe(  # noqa: S308 - the template's own output, escaped when rendered
                render_to_string("messaging/_conversation.html", context)
            ),
        }
        return page, unread == 0

    page = cached_page(
        clinic=clinic,
        patient=patient,
        page=f"thread-{int(pk)}",
        variant=_variant(),
        render=render_conversation,
    )
    if page["unread"]:
        services.thread_mark_read(thread=loaded[0], reader=request.user, request=request)
    else:
        # From the cache: the key carries the chart, so this thread is in it.
        thread = loaded[0] if loaded else Thread(pk=int(pk), clinic=clinic, patient=patient)
        services.thread_record_view(thread=thread, reader=request.user, request=request)
    context = {"thread_page": page, "form": form, "thread_pk": int(pk)}
    return render(request, "messaging/thread.html", context)


@keeps_draft("subject", "category", "body")
@patient_required(scope="messages")
def thread_new(request):
    portal_settings = request.clinic.portal_settings
    if not patient_may_start(patient=request.patient, portal_settings=portal_settings):
        return _refused(request, "new")
    form = NewThreadForm(
        request.POST or None,
        request.FILES or None,
        initial=None if request.method == "POST" else draft_take(request),
        portal_settings=portal_settings,
    )
    if request.method == "POST" and form.is_valid():
        try:
            thread = services.thread_start(
                clinic=request.clinic,
                patient=request.patient,
                subject=form.cleaned_data["subject"],
                category=form.cleaned_data["category"],
                body=form.cleaned_data["body"],
                author=request.user,
                access=request.access,
                attachments=form.cleaned_data["attachments"],
                request=request,
            )
        except services.MessagingRefused:
            return _refused(request, "new")
        messages.success(request, _("Message sent."))
        return redirect("portal:messages-thread", pk=thread.pk)
    return render(request, "messaging/new.html", {"form": form})


@patient_required(scope="messages")
def attachment_download(request, pk):
    attachment = selectors.get_attachment_for_portal(request, pk)
    response = attachment_response(attachment)
    services.attachment_record_download(attachment=attachment, reader=request.user, request=request)
    return response
