"""Patient portal: the inbox, a thread with its reply form, a new message, attachments.

Every view needs a signed-in portal account whose grant includes messages; every thread
and attachment is fetched through an access helper that 404s outside the patient the
request acts for.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from messaging import selectors, services
from messaging.downloads import attachment_response
from messaging.forms import NewThreadForm, ReplyForm
from messaging.policy import patient_may_reply, patient_may_send, patient_may_start
from patients.access import patient_required
from patients.drafts import draft_take, keeps_draft

THREADS_PER_PAGE = 20


def _refused(request, what):
    """The clinic's settings do not allow this: say so (and whom to call), as a 403."""
    pending = not patient_may_send(
        patient=request.patient, portal_settings=request.clinic.portal_settings
    )
    context = {"what": what, "pending": pending}
    return render(request, "messaging/not_allowed.html", context, status=403)


@patient_required(scope="messages")
def inbox(request):
    threads = selectors.threads_for_patient(clinic=request.clinic, patient=request.patient)
    page = Paginator(threads, THREADS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "unread_total": selectors.unread_count_for_patient(
            clinic=request.clinic, patient=request.patient
        ),
        "may_start": patient_may_start(
            patient=request.patient, portal_settings=request.clinic.portal_settings
        ),
    }
    return render(request, "messaging/inbox.html", context)


@keeps_draft("body")
@patient_required(scope="messages")
def thread_detail(request, pk):
    """The conversation, and the reply form when the clinic accepts replies."""
    thread = selectors.get_thread_for_portal(request, pk)
    portal_settings = request.clinic.portal_settings
    may_reply = patient_may_reply(patient=request.patient, portal_settings=portal_settings)
    if request.method == "POST":
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
    else:
        draft = draft_take(request) if may_reply else None
        form = ReplyForm(initial=draft, portal_settings=portal_settings) if may_reply else None
    # Shown as they were before this visit (what is new is marked), then marked read.
    conversation = list(thread.messages.all())
    services.thread_mark_read(thread=thread, reader=request.user, request=request)
    context = {"thread": thread, "conversation": conversation, "form": form}
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
