"""Patient portal: see, book and cancel appointments under the clinic's rules."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from appointments import offers, services
from appointments.calendar import FILENAME, MIMETYPE, appointment_calendar, feed_calendar
from appointments.forms import AppointmentRequestForm, ConfirmForm, SlotSearchForm
from appointments.list_cache import cached_lists
from appointments.models import AppointmentType, Provider, SlotOffer
from appointments.selectors import (
    bookable_types,
    booking_week,
    calendar_feed_of,
    cancelled_visits,
    feed_for_token,
    feed_visits,
    get_appointment_for_patient,
    get_request_for_patient,
    requests_for_patient,
    upcoming_and_past,
)
from patients.access import patient_required, portal_enabled
from patients.returns import next_keep
from patients.selectors import access_for_user, usable_grants
from patients.sessions import SESSION_NEXT_AFTER_SIGNIN, SESSION_PATIENT
from portal.core.http import no_store
from portal.core.tokens import token_digest

PAST_PER_PAGE = 20

REFUSALS = {
    "booking_disabled": gettext_lazy(
        "The clinic does not take bookings in the portal. Please call the clinic."
    ),
    "pending": gettext_lazy(
        "You can book once the clinic has verified your registration. Please call the clinic."
    ),
    "not_online": gettext_lazy("This appointment cannot be booked online. Please call the clinic."),
    "not_offered": gettext_lazy("That time is not available. Pick another."),
    "slot_taken": gettext_lazy("That time was just taken, pick another."),
    "in_the_past": gettext_lazy("That time has passed. Pick another."),
    "outside_window": gettext_lazy(
        "That time is further ahead than the clinic takes bookings. Pick an earlier time."
    ),
    "patient_overlap": gettext_lazy(
        "You already have an appointment at that time. Pick another time."
    ),
    "visit_limit": gettext_lazy(
        "You already have as many upcoming appointments as the clinic allows. "
        "Cancel one first, or call the clinic."
    ),
    "provider_inactive": gettext_lazy(
        "That provider is not taking appointments. Pick another provider."
    ),
    "type_inactive": gettext_lazy("That type of appointment is no longer offered."),
    "type_not_offered": gettext_lazy(
        "That provider does not offer this type of appointment. Pick another provider."
    ),
    "cancelling_disabled": gettext_lazy(
        "The clinic does not take cancellations in the portal. Please call the clinic."
    ),
    "past_cutoff": gettext_lazy("It is too late to cancel in the portal. Please call the clinic."),
    "not_booked": gettext_lazy("This appointment is not booked."),
    "offers_disabled": gettext_lazy("The clinic does not offer earlier times in the portal."),
    "requests_only": gettext_lazy(
        "The clinic takes appointment requests instead of bookings in the portal."
    ),
    "requests_disabled": gettext_lazy(
        "The clinic does not take appointment requests in the portal. Please call the clinic."
    ),
    "request_limit": gettext_lazy(
        "You already have %(limit)s requests waiting for the clinic. Withdraw one, or wait "
        "for the clinic to answer."
    ),
    "bad_preferences": gettext_lazy("Pick days and times from the lists."),
    "note_too_long": gettext_lazy("The note is too long."),
    "request_answered": gettext_lazy("The clinic has already answered this request."),
}

SESSION_OFFER_TOKEN = "portal_offer_token"

OFFER_STATES = {
    SlotOffer.State.TAKEN: gettext_lazy("This time has already been taken."),
    SlotOffer.State.EXPIRED: gettext_lazy("This offer has expired."),
    SlotOffer.State.USED: gettext_lazy("You already took this time."),
    SlotOffer.State.SUPERSEDED: gettext_lazy("A newer link replaced this one."),
    SlotOffer.State.REVOKED: gettext_lazy("This offer is no longer open."),
    None: gettext_lazy("This link does not work."),
}



@patient_required(scope="appointments")
def appointment_list(request):
    """Upcoming, past and cancelled visits; the lists come from the cache while none of
    the chart's visits has changed (appointments/list_cache.py)."""
    clinic, patient = request.clinic, request.patient
    policy = clinic.portal_settings
    past_number = _page_number(request.GET.get("page"))
    cancelled_number = _page_number(request.GET.get("cancelled"))
    now = timezone.now()

    def render_lists():
        upcoming, past = upcoming_and_past(clinic=clinic, patient=patient, now=now)
        upcoming = list(upcoming)
        context = {
            "upcoming": upcoming,
            "past_page": Paginator(past, PAST_PER_PAGE).get_page(past_number),
            "cancelled_page": Paginator(
                cancelled_visits(clinic=clinic, patient=patient), PAST_PER_PAGE
            ).get_page(cancelled_number),
            "can_cancel": policy.cancelling_allowed,
            "offers_on": policy.earlier_offers_enabled,
        }
        html = render_to_string("appointments/_lists.html", context)
        return html, min((a.end for a in upcoming), default=None)

    variant = (
        get_language(),
        str(clinic.tz),
        past_number,
        cancelled_number,
        policy.cancelling_allowed,
        policy.earlier_offers_enabled,
    )
    context = {
        "lists": mark_safe(  # noqa: S308 - the template's own output, escaped when rendered
            cached_lists(
                clinic=clinic, patient=patient, variant=variant, now=now, render=render_lists
            )
        ),
        "can_book": policy.booking_allowed and not policy.appointment_requests,
        "can_request": policy.appointment_requests,
        "requests": requests_for_patient(clinic=clinic, patient=patient),
        "request_limit": services.MAX_OPEN_REQUESTS,
    }
    return render(request, "appointments/list.html", context)


def _page_number(value):
    """A page number as the paginator takes it, in a short form fit for a cache key."""
    if value == "last" or (value and value.isdecimal() and len(value) <= 6):
        return value
    return "1"


@patient_required(scope="appointments")
def book(request):
    """Type and provider first, then a week of free times to pick one from."""
    try:
        services.check_patient_may_book(request.patient)
    except services.NotAllowed as refusal:
        if refusal.rule == "requests_only":
            return redirect("portal:appointments-request")
        return render(request, "appointments/refused.html", {"message": REFUSALS[str(refusal)]})
    form = SlotSearchForm(request.GET or None, clinic=request.clinic)
    week = None
    if form.is_bound and form.is_valid():
        week = booking_week(
            clinic=request.clinic,
            providers=form.providers(),
            appointment_type=form.cleaned_data["appointment_type"],
            day=form.cleaned_data["week"] or timezone.localdate(),
        )
    links = {}
    if week is not None:
        kind, chosen = form.cleaned_data["appointment_type"], form.cleaned_data["provider"]
        links = {
            name: _week_link(kind, chosen.pk if chosen else "", monday)
            for name, monday in (("previous", week.previous), ("following", week.following))
            if monday
        }
    context = {
        "form": form,
        "week": week,
        "links": links,
        "window_days": request.clinic.portal_settings.booking_window_days,
        "has_types": bookable_types(request.clinic).exists(),
    }
    return render(request, "appointments/book.html", context)


def _week_link(kind, provider_id, day):
    """The booking page at the week of ``day``, for the type and provider (or any: "")."""
    query = {"appointment_type": kind.pk, "provider": provider_id or "", "week": day.isoformat()}
    return reverse("portal:appointments-book") + "?" + urlencode(query)


@patient_required(scope="appointments")
def book_confirm(request):
    """The chosen slot: confirm it with a reason, then book."""
    source = request.POST
    # A slot button sends "provider|start"; the confirm form sends them separately.
    provider_id, _sep, start_text = source.get("slot", "").partition("|")
    provider_id = provider_id or source.get("provider")
    start_text = start_text or source.get("start", "")
    kind = (
        AppointmentType.objects.for_clinic(request.clinic)
        .filter(pk=_int(source.get("appointment_type")))
        .first()
    )
    provider = (
        Provider.objects.for_clinic(request.clinic)
        .select_related("clinic")
        .filter(pk=_int(provider_id))
        .first()
    )
    start = _slot_start(start_text)
    if request.method != "POST" or not (kind and provider and start):
        return redirect("portal:appointments-book")
    form = ConfirmForm(request.POST if "confirm" in request.POST else None)
    # Back to the week of that time, with the provider the patient chose (or any).
    chosen = _int(source.get("chosen_provider"))
    back = _week_link(kind, chosen, timezone.localtime(start).date())
    if form.is_bound and form.is_valid():
        try:
            services.appointment_book(
                patient=request.patient,
                provider=provider,
                appointment_type=kind,
                start=start,
                reason=form.cleaned_data["reason"],
                booked_by=request.user,
                request=request,
            )
        except services.NotAllowed as refusal:
            messages.error(request, REFUSALS[str(refusal)])
            return redirect(back)
        messages.success(request, _("Your appointment is booked. A confirmation is on its way."))
        return redirect("portal:appointments")
    context = {
        "form": form,
        "kind": kind,
        "provider": provider,
        "start": start,
        "back": back,
        "chosen_provider": chosen or "",
    }
    return render(request, "appointments/confirm.html", context)


@patient_required(scope="appointments")
def cancel(request, pk):
    appointment = get_appointment_for_patient(request, pk)
    try:
        services.check_patient_may_cancel(appointment)
    except services.NotAllowed as refusal:
        context = {"message": REFUSALS[str(refusal)], "appointment": appointment}
        return render(request, "appointments/refused.html", context, status=403)
    if request.method == "POST":
        services.appointment_cancel(
            appointment=appointment, cancelled_by=request.user, request=request
        )
        messages.success(request, _("Your appointment is cancelled."))
        return redirect("portal:appointments")
    return render(request, "appointments/cancel.html", {"appointment": appointment})


@patient_required(scope="appointments")
def earlier_offers(request, pk):
    """Ask, or stop asking, to be offered an earlier time for one visit."""
    appointment = get_appointment_for_patient(request, pk)
    wanted = appointment.earlier_offers_since is None
    if request.method == "POST":
        try:
            offers.appointment_earlier_offers_set(
                appointment=appointment,
                wanted=request.POST.get("wanted") == "1",
                changed_by=request.user,
                request=request,
            )
        except services.NotAllowed as refusal:
            context = {"message": REFUSALS[str(refusal)], "appointment": appointment}
            return render(request, "appointments/refused.html", context, status=403)
        if request.POST.get("wanted") == "1":
            messages.success(request, _("You will be offered an earlier time if one frees up."))
        else:
            messages.success(request, _("You will not be offered earlier times for this visit."))
        return redirect("portal:appointments")
    context = {"appointment": appointment, "wanted": wanted}
    return render(request, "appointments/earlier.html", context)


@portal_enabled
def offer_link(request, token):
    """Move the offer's token out of the URL into the session (as invitation links do)."""
    request.session[SESSION_OFFER_TOKEN] = token
    next_keep(request, reverse("portal:appointments-offer"))
    response = no_store(redirect("portal:appointments-offer"))
    response["Referrer-Policy"] = "no-referrer"
    return response


@portal_enabled
def offer(request):
    """The offered time and the visit it replaces (GET); take it (POST). For a signed-in
    account that may manage the patient's appointments; others are asked to sign in."""
    found = offers.offer_for_token(
        clinic=request.clinic, token=request.session.get(SESSION_OFFER_TOKEN, "")
    )
    state = found.state() if found else None
    if state != SlotOffer.State.VALID:
        return _offer_unusable(request, state)
    user = request.user
    if not user.is_authenticated or user.is_staff:
        return no_store(render(request, "appointments/offer_signin.html"))
    access = access_for_user(clinic=request.clinic, user=user, patient_id=found.patient_id)
    if access is not None and access.patient_id == found.patient_id:
        # Show the offer for the chart it is about, as the portal's chart switcher would.
        request.session[SESSION_PATIENT] = found.patient_id
    return _offer_for_patient(request, found)


@patient_required(scope="appointments")
def _offer_for_patient(request, found):
    if request.patient.pk != found.patient_id:
        return render(request, "appointments/offer_other_account.html", status=404)
    if request.method == "POST":
        try:
            visit = offers.slot_offer_accept(offer=found, accepted_by=request.user, request=request)
        except offers.OfferUnusable as unusable:
            return _offer_unusable(request, unusable.state)
        except services.NotAllowed as refusal:
            context = {"message": REFUSALS[str(refusal)]}
            return render(request, "appointments/refused.html", context, status=403)
        _forget_offer(request)
        local = timezone.localtime(visit.start)
        messages.success(
            request,
            _("Your appointment is moved to %(when)s. A confirmation is on its way.")
            % {"when": formats.date_format(local, "DATETIME_FORMAT")},
        )
        return redirect("portal:appointments")
    return render(request, "appointments/offer.html", {"offer": found, "slot": found.freed_slot})


def _offer_unusable(request, state):
    _forget_offer(request)
    context = {"message": OFFER_STATES.get(state, OFFER_STATES[None]), "state": state}
    return no_store(render(request, "appointments/offer_unusable.html", context, status=410))


def _forget_offer(request):
    request.session.pop(SESSION_OFFER_TOKEN, None)
    if request.session.get(SESSION_NEXT_AFTER_SIGNIN) == reverse("portal:appointments-offer"):
        request.session.pop(SESSION_NEXT_AFTER_SIGNIN)


@patient_required(scope="appointments")
def calendar_file(request, pk):
    """An upcoming visit's calendar file, the same one its emails carry, as a download."""
    appointment = get_appointment_for_patient(request, pk)
    if appointment.status != appointment.Status.BOOKED or appointment.end <= timezone.now():
        raise Http404
    response = HttpResponse(appointment_calendar(appointment), content_type=MIMETYPE)
    response["Content-Disposition"] = f'attachment; filename="{FILENAME}"'
    response["X-Content-Type-Options"] = "nosniff"
    return no_store(response)


def _slot_start(text):
    """The start a slot button sends: an aware datetime inside the calendar, else None
    (a naive or extreme value would crash the time-zone arithmetic)."""
    try:
        start = parse_datetime(text)
    except ValueError:
        return None
    if start is None or timezone.is_naive(start) or not 1 < start.year < 9999:
        return None
    return start


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _refusal_text(refusal) -> str:
    return str(REFUSALS[refusal.rule]) % {"limit": services.MAX_OPEN_REQUESTS}


@patient_required(scope="appointments")
def request_new(request):
    """The clinic takes requests instead of bookings: the patient (or their
    representative) says what they need and when it suits them; the front desk answers."""
    try:
        services.check_patient_may_request(request.patient)
    except services.NotAllowed as refusal:
        if refusal.rule == "requests_disabled" and request.clinic.portal_settings.booking_allowed:
            return redirect("portal:appointments-book")
        return render(request, "appointments/refused.html", {"message": _refusal_text(refusal)})
    form = AppointmentRequestForm(request.POST or None, clinic=request.clinic)
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_request_create(
                patient=request.patient,
                requested_by=request.user,
                appointment_type=form.cleaned_data["appointment_type"],
                provider=form.cleaned_data["provider"],
                days=form.cleaned_data["days"],
                times=form.cleaned_data["times"],
                note=form.cleaned_data["note"],
                request=request,
            )
        except services.NotAllowed as refusal:
            messages.error(request, _refusal_text(refusal))
            return redirect("portal:appointments")
        messages.success(
            request,
            _("Your request is sent. The clinic will book a time and send you a confirmation."),
        )
        return redirect("portal:appointments")
    context = {"form": form, "has_types": bookable_types(request.clinic).exists()}
    return render(request, "appointments/request.html", context)


@patient_required(scope="appointments")
def request_withdraw(request, pk):
    """Withdraw a waiting request (POST; the button sits on the appointments page)."""
    appointment_request = get_request_for_patient(request, pk)
    if request.method != "POST":
        return redirect("portal:appointments")
    try:
        services.appointment_request_withdraw(
            appointment_request=appointment_request, withdrawn_by=request.user, request=request
        )
    except services.NotAllowed as refusal:
        messages.error(request, _refusal_text(refusal))
    else:
        messages.success(request, _("Your request is withdrawn."))
    return redirect("portal:appointments")


# The new address, shown once after it is made (only its digest is kept).
SESSION_FEED_TOKEN = "appointments:new_feed_token"


@patient_required
def calendar_feed_settings(request):
    """ "Subscribe in your calendar app": make, reset or stop the account's private feed
    address. The address is shown once, right after it is made (Post/Redirect/Get: the
    token rides in the session to the next page view and is dropped there)."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "reset":
            token = services.calendar_feed_reset(
                clinic=request.clinic, user=request.user, request=request
            )
            request.session[SESSION_FEED_TOKEN] = token
            messages.success(request, _("Your new calendar address is ready. Copy it now."))
        elif action == "stop":
            services.calendar_feed_stop(clinic=request.clinic, user=request.user, request=request)
            messages.success(request, _("Your calendar address no longer works."))
        return redirect("portal:appointments-feed-settings")
    token = request.session.pop(SESSION_FEED_TOKEN, None)
    feed = calendar_feed_of(clinic=request.clinic, user=request.user)
    if token and feed and feed.token_hash != token_digest(token):
        token = None
    context = {"feed": feed}
    if token:
        path = reverse("portal:appointments-feed", args=[token])
        https_url = request.build_absolute_uri(path)
        context.update(https_url=https_url, webcal_url="webcal://" + https_url.partition("://")[2])
    return render(request, "appointments/feed_settings.html", context)


def calendar_feed(request, token):
    """The account's private calendar feed (no sign-in: calendar apps cannot). Only the
    visits of the charts the account may see with the appointments scope; an unknown or
    reset address is a 404."""
    clinic = request.clinic
    if not clinic.portal_settings.portal_enabled or len(token) > 100:
        raise Http404
    feed = feed_for_token(clinic=clinic, token_hash=token_digest(token))
    if feed is None:
        raise Http404
    patient_ids = {
        grant.patient_id
        for grant in usable_grants(clinic=clinic, user=feed.user)
        if grant.allows("appointments")
    }
    body = feed_calendar(
        clinic=clinic, appointments=feed_visits(clinic=clinic, patient_ids=patient_ids)
    )
    response = HttpResponse(body, content_type=f"{MIMETYPE}; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="appointments.ics"'
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Robots-Tag"] = "noindex"
    return no_store(response)
