import datetime
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from appointments import services
from appointments.forms import ProviderDayForm, RequestDayForm, RequestDeclineForm
from appointments.models import (
    Appointment,
    AppointmentRequest,
    AppointmentType,
    AvailabilityException,
    Provider,
    WeeklyAvailability,
)
from appointments.selectors import provider_day
from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import (
    ClinicScopedAdmin,
    ClinicScopedInline,
    ClinicScopedModelForm,
    PendingFirstFilter,
)
from patients.models import Patient


class WeeklyAvailabilityInline(ClinicScopedInline):
    model = WeeklyAvailability


class AvailabilityExceptionInline(ClinicScopedInline):
    model = AvailabilityException


@admin.register(Provider, site=clinic_admin_site)
class ProviderAdmin(ClinicScopedAdmin):
    list_display = ["name", "title", "bookable_online", "is_active"]
    list_filter = ["bookable_online", "is_active"]
    search_fields = ["name"]
    filter_horizontal = ["appointment_types"]
    inlines = [WeeklyAvailabilityInline, AvailabilityExceptionInline]


@admin.register(AppointmentType, site=clinic_admin_site)
class AppointmentTypeAdmin(ClinicScopedAdmin):
    list_display = ["name", "duration_minutes", "bookable_online", "is_active"]
    list_filter = ["bookable_online", "is_active"]


# What staff are told when the service refuses a booking outright.
REFUSED = {
    "provider_inactive": _("%(provider)s is marked inactive: nothing can be booked with them."),
    "type_inactive": _("%(type)s is marked inactive: it cannot be booked."),
    "type_not_offered": _(
        "%(provider)s does not offer %(type)s (see the provider's appointment types)."
    ),
    "in_the_past": _("That time has passed."),
}

# Conflicts staff may book over, each named with what it clashes with.
CONFLICTS = {
    services.SLOT_TAKEN: _("%(provider)s already has an appointment at that time: %(other)s."),
    services.PATIENT_OVERLAP: _("%(patient)s already has an appointment at that time: %(other)s."),
    services.NOT_OFFERED: _(
        "%(when)s is outside %(provider)s's hours or not on their schedule of "
        "%(minutes)s-minute appointments."
    ),
    services.OUTSIDE_WINDOW: _(
        "%(when)s is more than %(days)s days ahead, beyond the clinic's booking window."
    ),
    services.VISIT_LIMIT: _(
        "%(patient)s already has %(limit)s upcoming appointments, the clinic's limit."
    ),
}

OVERRIDE_CHOICES = [
    (services.SLOT_TAKEN, _("Double-book the provider")),
    (services.PATIENT_OVERLAP, _("Double-book the patient")),
    (services.NOT_OFFERED, _("Book outside the provider's hours")),
    (services.OUTSIDE_WINDOW, _("Book beyond the booking window")),
    (services.VISIT_LIMIT, _("Book above the patient's limit of upcoming appointments")),
]


def _aware(text):
    """An aware datetime from ISO text, or None (naive, malformed or out of range)."""
    try:
        moment = parse_datetime(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if moment is None or timezone.is_naive(moment) or not 1900 <= moment.year <= 2999:
        return None
    return moment


def _local_text(moment):
    return formats.localize(timezone.localtime(moment))


def describe_conflict(conflict, *, patient, provider, appointment_type, start) -> str:
    policy = patient.clinic.portal_settings
    other = conflict.appointment
    return CONFLICTS[conflict.rule] % {
        "patient": patient,
        "provider": provider,
        "when": _local_text(start),
        "minutes": appointment_type.duration_minutes,
        "days": policy.booking_window_days,
        "limit": policy.max_upcoming_appointments,
        "other": (
            _("%(when)s with %(provider)s")
            % {"when": _local_text(other.start), "provider": other.provider}
            if other
            else ""
        ),
    }


class AppointmentAdminForm(ClinicScopedModelForm):
    """Staff book through the same rules as the portal (``services.booking_check``). A
    conflict they may book over is named, with a box to tick to book over it."""

    override = forms.MultipleChoiceField(
        label=_("Book over"),
        choices=OVERRIDE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Only for a conflict named above that you mean to book over. It is recorded "
            "in the audit log."
        ),
    )

    class Meta:
        model = Appointment
        fields = ["patient", "provider", "appointment_type", "start", "reason"]

    def clean(self):
        cleaned = super().clean()
        self.overridden = []
        values = {
            "patient": cleaned.get("patient"),
            "provider": cleaned.get("provider"),
            "appointment_type": cleaned.get("appointment_type"),
            "start": cleaned.get("start"),
        }
        if self.instance.pk or not all(values.values()):
            return cleaned
        override = cleaned.get("override") or []
        try:
            found = services.booking_check(**values, by_staff=True, override=override)
        except services.NotAllowed as refusal:
            if not refusal.conflicts:
                raise forms.ValidationError(
                    REFUSED[refusal.rule]
                    % {"provider": values["provider"], "type": values["appointment_type"]}
                ) from None
            raise forms.ValidationError(
                [describe_conflict(c, **values) for c in refusal.conflicts]
                + [_("To book anyway, tick what to book over under “Book over” and save again.")]
            ) from None
        self.overridden = [describe_conflict(c, **values) for c in found]
        self.instance.end = values["start"] + datetime.timedelta(
            minutes=values["appointment_type"].duration_minutes
        )
        return cleaned


class DayFilter(admin.SimpleListFilter):
    """Appointments by day in the clinic's time zone: fixed choices, or any day picked in
    the date field above the list (``?day=2026-11-30``).

    Replaces Django's date hierarchy, which lists the years, months and days that have
    appointments with a ``SELECT DISTINCT`` over every appointment of the clinic: more
    than a second and a half at ten million.
    """

    title = _("day")
    parameter_name = "day"

    def lookups(self, request, model_admin):
        return [
            ("today", _("Today")),
            ("tomorrow", _("Tomorrow")),
            ("week", _("Next 7 days")),
            ("upcoming", _("Upcoming")),
            ("past", _("Past")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        today = timezone.localdate()
        now = timezone.now()
        ranges = {
            "today": (today, 1),
            "tomorrow": (today + datetime.timedelta(days=1), 1),
            "week": (today, 7),
        }
        if value == "upcoming":
            return queryset.filter(end__gt=now)
        if value == "past":
            return queryset.filter(end__lte=now)
        try:
            first, days = ranges[value] if value in ranges else (date.fromisoformat(value), 1)
            if not 1900 <= first.year <= 2999:  # far-off years overflow in time zone arithmetic
                raise ValueError(value)
            start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))
            end = timezone.make_aware(
                datetime.datetime.combine(first + datetime.timedelta(days=days), datetime.time.min)
            )
        except (ValueError, OverflowError) as exc:  # not a date, or the last day of year 9999
            raise IncorrectLookupParameters(exc) from exc
        return queryset.filter(start__gte=start, start__lt=end)


@admin.register(Appointment, site=clinic_admin_site)
class AppointmentAdmin(ClinicScopedAdmin):
    """A day view per provider: filter by provider and pick a day."""

    form = AppointmentAdminForm
    list_display = ["start", "patient", "provider", "appointment_type", "status"]
    list_filter = [DayFilter, "provider", "status", "appointment_type"]
    list_select_related = ["patient", "provider", "appointment_type"]
    search_fields = ["patient__last_name", "patient__first_name"]
    autocomplete_fields = ["patient"]
    actions = ["cancel", "mark_completed", "mark_no_show"]
    ordering = ["start"]

    def get_urls(self):
        day = path(
            "day/", self.admin_site.admin_view(self.day_view), name="appointments_appointment_day"
        )
        return [day, *super().get_urls()]

    def day_view(self, request):
        """One provider's day: its free times for a type of visit, each a link to the add
        form filled in (booking there goes through the service, with its overrides), and
        its booked visits. For staff who may book (the front desk role)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        clinic = request.clinic
        data = request.GET.copy()
        form = ProviderDayForm(data, clinic=clinic)
        if not data.get("provider"):
            first = form.fields["provider"].queryset.first()
            data["provider"] = str(first.pk) if first else ""
        if not data.get("appointment_type") and data["provider"].isdecimal():
            types = form.fields["appointment_type"].queryset
            offered = types.filter(providers=int(data["provider"])).first()
            data["appointment_type"] = str(offered.pk) if offered else ""
        if not data.get("day"):
            data["day"] = timezone.localdate().isoformat()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Provider's day"),
            "form": form,
        }
        if form.is_valid():
            provider = form.cleaned_data["provider"]
            kind = form.cleaned_data["appointment_type"]
            day = form.cleaned_data["day"]
            patient = (
                Patient.objects.for_clinic(clinic).filter(pk=form.cleaned_data["patient"]).first()
                if form.cleaned_data["patient"]
                else None
            )
            schedule = provider_day(
                clinic=clinic, provider=provider, appointment_type=kind, day=day
            )
            add_url = reverse("admin:appointments_appointment_add")
            query = {"provider": provider.pk, "appointment_type": kind.pk}
            if patient:
                query["patient"] = patient.pk
            rows = [
                (start, None, f"{add_url}?{urlencode({**query, 'start': start.isoformat()})}")
                for start in schedule.free
            ]
            rows += [(visit.start, visit, None) for visit in schedule.visits]
            rows.sort(key=lambda row: (row[0], row[1] is None))

            def day_link(other):
                return "?" + urlencode({**query, "day": other.isoformat()})

            context.update(
                provider=provider,
                kind=kind,
                day=day,
                patient=patient,
                rows=rows,
                offered=kind in provider.appointment_types.all(),
                previous_day=day_link(day - datetime.timedelta(days=1)),
                next_day=day_link(day + datetime.timedelta(days=1)),
            )
        return TemplateResponse(request, "admin/appointments/appointment/day.html", context)

    def get_changeform_initial_data(self, request):
        """The add form filled in from a day view's link; ``start`` comes as an ISO time."""
        initial = super().get_changeform_initial_data(request)
        if "start" in initial:
            start = _aware(initial.pop("start"))
            if start is not None:
                initial["start"] = start
        return initial

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "patient",
            "provider",
            "appointment_type",
            "start",
            "status",
            "booked_by",
            "cancelled_by",
            "cancelled_at",
            "reminder_sent_at",
            "conflict_override",
            "earlier_offers_since",
        ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["patient", "provider", "appointment_type", "start", "reason", "override"]
        return [*self.get_readonly_fields(request, obj), "reason"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            booked = services.appointment_book(
                patient=obj.patient,
                provider=obj.provider,
                appointment_type=obj.appointment_type,
                start=obj.start,
                reason=obj.reason,
                booked_by=request.user,
                request=request,
                by_staff=True,
                override=form.cleaned_data.get("override") or (),
            )
        except services.NotAllowed as refusal:
            # Changed since the form was checked (someone else booked meanwhile).
            conflicts = [
                describe_conflict(
                    c,
                    patient=obj.patient,
                    provider=obj.provider,
                    appointment_type=obj.appointment_type,
                    start=obj.start,
                )
                for c in refusal.conflicts
            ]
            messages.error(
                request,
                _("Nothing was booked: %(why)s")
                % {"why": " ".join(conflicts) or _("that time was just taken.")},
            )
            return
        obj.pk = booked.pk
        if form.overridden:
            messages.warning(
                request,
                _("Booked over a conflict, as you chose (recorded in the audit log): %(what)s")
                % {"what": " ".join(form.overridden)},
            )

    def log_addition(self, request, obj, message):
        if obj.pk is None:  # refused at save (see save_model): nothing was added
            return None
        return super().log_addition(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # back to the form, under the message that says why
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def _outcome(self, request, done, message):
        # Whole sentences per action: a participle inserted alone cannot agree in number
        # in every language ("1 rendez-vous annulé", "2 rendez-vous annulés").
        messages.success(request, message % {"count": done})

    @admin.action(description=_("Cancel"), permissions=["change"])
    def cancel(self, request, queryset):
        done = sum(
            services.appointment_cancel(
                appointment=a, cancelled_by=request.user, request=request, by_staff=True
            )
            for a in queryset
        )
        self._outcome(
            request,
            done,
            ngettext_lazy(
                "%(count)d appointment cancelled.", "%(count)d appointments cancelled.", "count"
            ),
        )

    def _mark(self, request, queryset, status, message):
        done = sum(
            services.appointment_mark(
                appointment=a, status=status, marked_by=request.user, request=request
            )
            for a in queryset
        )
        self._outcome(request, done, message)

    @admin.action(description=_("Mark completed"), permissions=["change"])
    def mark_completed(self, request, queryset):
        self._mark(
            request,
            queryset,
            Appointment.Status.COMPLETED,
            ngettext_lazy(
                "%(count)d appointment marked completed.",
                "%(count)d appointments marked completed.",
                "count",
            ),
        )

    @admin.action(description=_("Mark no-show"), permissions=["change"])
    def mark_no_show(self, request, queryset):
        self._mark(
            request,
            queryset,
            Appointment.Status.NO_SHOW,
            ngettext_lazy(
                "%(count)d appointment marked as no-show.",
                "%(count)d appointments marked as no-show.",
                "count",
            ),
        )


# --- Appointment requests: the front desk's queue --------------------------------------

REQUEST_REFUSED = {
    "request_answered": _("This request has already been answered."),
    "reason_required": _("Give the patient a reason."),
    "reason_too_long": _("The reason is too long."),
}


def _first_preferred_day(appointment_request, today):
    """The first day from today the patient said suits them (today when any day does)."""
    wanted = appointment_request.preferred_days
    codes = AppointmentRequest.Day.values
    for offset in range(7):
        day = today + datetime.timedelta(days=offset)
        if not wanted or codes[day.weekday()] in wanted:
            return day
    return today


class AppointmentRequestStatusFilter(PendingFirstFilter):
    statuses = AppointmentRequest.Status


@admin.register(AppointmentRequest, site=clinic_admin_site)
class AppointmentRequestAdmin(ClinicScopedAdmin):
    """The queue of patients' requests, oldest first. A request opens on a screen to
    book a real time (a provider's free times, booked through the booking service and its
    rules) or to decline with a reason."""

    list_display = ["created_at", "patient", "appointment_type", "provider_or_any", "status"]
    list_filter = [AppointmentRequestStatusFilter, "appointment_type"]
    list_select_related = ["patient", "appointment_type", "provider"]
    search_fields = ["patient__last_name", "patient__first_name"]
    ordering = ["created_at", "pk"]

    @admin.display(description=_("preferred provider"), ordering="provider__name")
    def provider_or_any(self, obj):
        return obj.provider.name if obj.provider else _("Any provider")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _may_answer(self, request):
        return self.has_change_permission(request) and request.user.has_perm(
            "appointments.add_appointment"
        )

    def get_urls(self):
        def view(name, func):
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(func),
                name=f"appointments_appointmentrequest_{name}",
            )

        return [
            view("confirm", self.confirm_view),
            view("decline", self.decline_view),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The request and, while it waits, a day of free times to book and a form to
        decline (both post to their own URL and come back here)."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        clinic = request.clinic
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Appointment request"),
            "original": obj,
            "may_answer": self._may_answer(request) and obj.status == obj.Status.PENDING,
        }
        if context["may_answer"]:
            data = request.GET.copy()
            form = RequestDayForm(data, clinic=clinic, appointment_type=obj.appointment_type)
            if not data.get("provider"):
                chosen = obj.provider_id or getattr(
                    form.fields["provider"].queryset.first(), "pk", ""
                )
                data["provider"] = str(chosen)
            if not data.get("day"):
                data["day"] = _first_preferred_day(obj, timezone.localdate()).isoformat()
            if form.is_valid():
                provider, day = form.cleaned_data["provider"], form.cleaned_data["day"]
                schedule = provider_day(
                    clinic=clinic, provider=provider, appointment_type=obj.appointment_type, day=day
                )

                def day_link(other):
                    return "?" + urlencode({"provider": provider.pk, "day": other.isoformat()})

                context.update(
                    provider=provider,
                    day=day,
                    free=schedule.free,
                    previous_day=day_link(day - datetime.timedelta(days=1)),
                    next_day=day_link(day + datetime.timedelta(days=1)),
                )
            context.update(
                form=form,
                override_choices=OVERRIDE_CHOICES,
                decline_form=RequestDeclineForm(),
            )
        return TemplateResponse(
            request, "admin/appointments/appointmentrequest/decide.html", context
        )

    def _answerable(self, request, object_id):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self._may_answer(request):
            raise PermissionDenied
        return obj

    def _back(self, obj, query=None):
        url = reverse("admin:appointments_appointmentrequest_change", args=[obj.pk])
        return HttpResponseRedirect(f"{url}?{urlencode(query)}" if query else url)

    def confirm_view(self, request, object_id):
        """Book the time picked for the request (POST), then back to the queue."""
        obj = self._answerable(request, object_id)
        if request.method != "POST":
            return self._back(obj)
        clinic = request.clinic
        provider = (
            Provider.objects.for_clinic(clinic)
            .filter(pk=_int(request.POST.get("provider")))
            .first()
        )
        start = _aware(request.POST.get("start"))
        override = [r for r in request.POST.getlist("override") if r in services.OVERRIDABLE]
        if provider is None or start is None:
            messages.error(request, _("Pick a free time first."))
            return self._back(obj)
        back = {"provider": provider.pk, "day": timezone.localtime(start).date().isoformat()}
        try:
            appointment = services.appointment_request_confirm(
                appointment_request=obj,
                provider=provider,
                start=start,
                decided_by=request.user,
                request=request,
                override=override,
            )
        except services.NotAllowed as refusal:
            values = {
                "patient": obj.patient,
                "provider": provider,
                "appointment_type": obj.appointment_type,
                "start": start,
            }
            if refusal.conflicts:
                why = [describe_conflict(c, **values) for c in refusal.conflicts]
                why.append(_("To book anyway, tick what to book over and pick the time again."))
            elif refusal.rule in REQUEST_REFUSED:
                why = [REQUEST_REFUSED[refusal.rule]]
            else:
                why = [REFUSED[refusal.rule] % {"provider": provider, "type": obj.appointment_type}]
            messages.error(
                request, _("Nothing was booked: %(why)s") % {"why": " ".join(map(str, why))}
            )
            return self._back(obj, back)
        messages.success(
            request,
            _(
                "Booked %(patient)s with %(provider)s on %(when)s. The patient is sent the "
                "confirmation."
            )
            % {
                "patient": obj.patient,
                "provider": provider,
                "when": _local_text(appointment.start),
            },
        )
        return HttpResponseRedirect(reverse("admin:appointments_appointmentrequest_changelist"))

    def decline_view(self, request, object_id):
        """Decline the request with a reason the patient reads in the portal (POST)."""
        obj = self._answerable(request, object_id)
        if request.method != "POST":
            return self._back(obj)
        form = RequestDeclineForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return self._back(obj)
        try:
            services.appointment_request_decline(
                appointment_request=obj,
                reason=form.cleaned_data["reason"],
                decided_by=request.user,
                request=request,
            )
        except services.NotAllowed as refusal:
            messages.error(request, REQUEST_REFUSED.get(refusal.rule, refusal.rule))
            return self._back(obj)
        messages.success(
            request, _("Request declined. The patient is told to sign in to read why.")
        )
        return HttpResponseRedirect(reverse("admin:appointments_appointmentrequest_changelist"))


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
