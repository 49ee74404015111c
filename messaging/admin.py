"""The clinic's message inbox in the admin: filters, search, the conversation with an
inline reply, "mark handled", attachments, and starting a thread with a patient
(``add/?patient=<id>`` from the patient's page)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ClinicScopedInline
from messaging import selectors, services
from messaging.downloads import attachment_response
from messaging.forms import PoolChoiceForm, StaffNewThreadForm, StaffReplyForm
from messaging.models import Pool, PoolCategory, Side, Thread
from patients.contacts import notice_recipients
from patients.models import Patient


class _YesNoFilter(admin.SimpleListFilter):
    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return self.yes(queryset)
        if self.value() == "no":
            return self.no(queryset)
        return queryset


class UnreadFilter(_YesNoFilter):
    title = _("unread by the clinic")
    parameter_name = "unread"

    def yes(self, queryset):
        return queryset.filter(unread__gt=0)

    def no(self, queryset):
        return queryset.filter(unread=0)


class AwaitingReplyFilter(_YesNoFilter):
    title = _("awaiting reply")
    parameter_name = "awaiting"

    def yes(self, queryset):
        return queryset.awaiting_reply()

    def no(self, queryset):
        return queryset.exclude(last_sender_side=Side.PATIENT, handled_at__isnull=True)


class HandledFilter(_YesNoFilter):
    title = _("handled")
    parameter_name = "handled"

    def yes(self, queryset):
        return queryset.filter(handled_at__isnull=False)

    def no(self, queryset):
        return queryset.filter(handled_at__isnull=True)


class PoolFilter(admin.SimpleListFilter):
    """My pools, one pool, or threads in no pool (the clinic's own pools only)."""

    title = _("pool")
    parameter_name = "pool"

    def lookups(self, request, model_admin):
        return [
            ("mine", _("My pools")),
            *(
                (str(pool.pk), pool.name)
                for pool in selectors.pools_for_clinic(clinic=request.clinic)
            ),
            ("none", _("No pool")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.filter(pool__members=request.user)
        if value == "none":
            return queryset.filter(pool__isnull=True)
        if value and value.isdecimal():
            return queryset.filter(pool_id=int(value))
        return queryset


class PoolCategoryInline(ClinicScopedInline):
    model = PoolCategory
    fields = ["category"]
    verbose_name = _("category routed here")
    verbose_name_plural = _("categories routed here")


@admin.register(Pool, site=clinic_admin_site)
class PoolAdmin(ClinicScopedAdmin):
    """Pools of staff, the categories routed to each, reply times and out-of-office."""

    list_display = ["name", "categories_display", "reply_display", "away_display"]
    fieldsets = [
        (None, {"fields": ["name", "members"]}),
        (_("Reply time"), {"fields": ["reply_working_days"]}),
        (_("Out of office"), {"fields": ["away_from", "away_until", "away_note"]}),
    ]
    filter_horizontal = ["members"]
    inlines = [PoolCategoryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("categories")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "members":
            # Staff of this clinic only (the scoped queryset, then its staff).
            field.queryset = field.queryset.filter(is_staff=True, is_active=True)
        return field

    @admin.display(description=_("categories"))
    def categories_display(self, obj):
        return ", ".join(str(route) for route in obj.categories.all()) or "—"

    @admin.display(description=_("reply time"))
    def reply_display(self, obj):
        if obj.reply_working_days:
            return ngettext(
                "%(days)d working day", "%(days)d working days", obj.reply_working_days
            ) % {"days": obj.reply_working_days}
        return gettext("The clinic's")

    @admin.display(description=_("out of office"))
    def away_display(self, obj):
        if obj.away_from and obj.away_until:
            return f"{date_format(obj.away_from)} – {date_format(obj.away_until)}"
        return "—"


@admin.register(Thread, site=clinic_admin_site)
class ThreadAdmin(ClinicScopedAdmin):
    list_display = [
        "subject_display",
        "patient",
        "category",
        "pool_display",
        "last_message_display",
        "unread_display",
        "status_display",
    ]
    list_display_links = ["subject_display"]
    list_filter = [PoolFilter, UnreadFilter, AwaitingReplyFilter, HandledFilter, "category"]
    search_fields = ["subject", "patient__first_name", "patient__last_name"]
    search_help_text = _("Search by subject or patient name.")
    ordering = ["-last_message_at", "-id"]
    actions = ["mark_handled"]
    change_list_template = "admin/messaging/thread/change_list.html"

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("patient", "pool").with_unread_for_staff()
        )

    def get_ordering(self, request):
        """The staff member's pools' threads first, then the newest activity first."""
        in_my_pools = Exists(Pool.objects.filter(pk=OuterRef("pool_id"), members=request.user))
        return [in_my_pools.desc(), "-last_message_at", "-id"]

    def has_delete_permission(self, request, obj=None):
        # Messages are part of the patient's record with the clinic.
        return False

    def has_reply_permission(self, request):
        return request.user.has_perm("messaging.add_message")

    # --- columns ------------------------------------------------------------------------

    @admin.display(description=_("subject"), ordering="subject")
    def subject_display(self, obj):
        if obj.unread:
            return format_html("<strong>{}</strong>", obj.subject)
        return obj.subject

    @admin.display(description=_("pool"), ordering="pool__name")
    def pool_display(self, obj):
        return obj.pool.name if obj.pool else "—"

    @admin.display(description=_("last message"), ordering="last_message_at")
    def last_message_display(self, obj):
        return date_format(timezone.localtime(obj.last_message_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("unread"), ordering="unread")
    def unread_display(self, obj):
        return obj.unread or "—"

    @admin.display(description=_("status"))
    def status_display(self, obj):
        if obj.handled_at is not None:
            return gettext("Handled")
        if obj.awaiting_reply:
            return format_html("<strong>{}</strong>", gettext("Awaiting reply"))
        return gettext("Answered")

    # --- actions ------------------------------------------------------------------------

    @admin.action(description=_("Mark handled"), permissions=["change"])
    def mark_handled(self, request, queryset):
        count = sum(
            services.thread_mark_handled(thread=thread, handled_by=request.user, request=request)
            for thread in queryset.select_related("clinic", "patient")
        )
        self.message_user(
            request,
            ngettext("%(count)d thread marked handled.", "%(count)d threads marked handled.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    # --- views --------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/handled/",
                wrap(self.handled_view),
                name="messaging_thread_handled",
            ),
            path(
                "<int:object_id>/pool/",
                wrap(self.pool_view),
                name="messaging_thread_pool",
            ),
            path(
                "attachments/<int:attachment_id>/",
                wrap(self.attachment_view),
                name="messaging_thread_attachment",
            ),
            *super().get_urls(),
        ]

    def _change_url(self, thread):
        return reverse(f"{self.admin_site.name}:messaging_thread_change", args=[thread.pk])

    def _context(self, request, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
            "has_change_permission": self.has_change_permission(request),
            "has_add_permission": self.has_add_permission(request),
            "can_view_patient": request.user.has_perm("patients.view_patient"),
            **extra,
        }

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": gettext("Messages inbox"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        """Start a thread: pick the patient (or arrive with ``?patient=<id>``)."""
        if not self.has_add_permission(request) or not self.has_reply_permission(request):
            raise PermissionDenied
        chosen = None
        if (request.GET.get("patient") or "").isdecimal():
            chosen = (
                Patient.objects.for_clinic(request.clinic)
                .filter(pk=int(request.GET["patient"]))
                .first()
            )
        form = StaffNewThreadForm(
            request.POST or None,
            request.FILES or None,
            clinic=request.clinic,
            initial={"patient": chosen.pk} if chosen else None,
        )
        if chosen:
            form.fields["patient"].queryset = form.fields["patient"].queryset.filter(pk=chosen.pk)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            thread = services.thread_start(
                clinic=request.clinic,
                patient=data["patient"],
                subject=data["subject"],
                category=data["category"],
                body=data["body"],
                author=request.user,
                attachments=data["attachments"],
                request=request,
            )
            messages.success(
                request, gettext("Message sent to %(patient)s.") % {"patient": data["patient"]}
            )
            if not notice_recipients(data["patient"], scope="messages"):
                messages.warning(
                    request,
                    gettext(
                        "Nobody could be told of it: no usable email or mobile, or the portal "
                        "access was revoked. The patient sees it when they next sign in."
                    ),
                )
            return redirect(self._change_url(thread))
        context = self._context(
            request, form=form, patient=chosen, title=gettext("Start a message")
        )
        return TemplateResponse(request, "admin/messaging/thread/start.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The conversation, escaped with its line breaks, and the reply form."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not str(object_id).isdecimal():
            raise Http404
        thread = selectors.get_thread_for_staff(request, int(object_id))
        portal_settings = request.clinic.portal_settings
        may_reply = self.has_reply_permission(request)
        form = None
        if request.method == "POST":
            if not may_reply:
                raise PermissionDenied
            form = StaffReplyForm(request.POST, request.FILES, portal_settings=portal_settings)
            if form.is_valid():
                services.message_post(
                    thread=thread,
                    body=form.cleaned_data["body"],
                    author=request.user,
                    attachments=form.cleaned_data["attachments"],
                    request=request,
                )
                messages.success(request, gettext("Reply sent."))
                return redirect(self._change_url(thread))
        elif may_reply:
            form = StaffReplyForm(portal_settings=portal_settings)
        conversation = list(thread.messages.all())
        services.thread_mark_read(thread=thread, reader=request.user, request=request)
        pool_form = None
        if self.has_change_permission(request):
            pool_form = PoolChoiceForm(clinic=request.clinic, initial={"pool": thread.pool_id})
        context = self._context(
            request,
            thread=thread,
            pool_form=pool_form,
            original=thread,
            conversation=conversation,
            form=form,
            title=thread.subject,
            staff_side=Side.STAFF,
        )
        return TemplateResponse(request, "admin/messaging/thread/conversation.html", context)

    def handled_view(self, request, object_id):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        thread = selectors.get_thread_for_staff(request, object_id)
        if services.thread_mark_handled(thread=thread, handled_by=request.user, request=request):
            messages.success(request, gettext("Marked handled."))
        return redirect(self._change_url(thread))

    def pool_view(self, request, object_id):
        """Move the thread to another pool (audited by the service)."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        thread = selectors.get_thread_for_staff(request, object_id)
        form = PoolChoiceForm(request.POST, clinic=request.clinic)
        if not form.is_valid():
            messages.error(request, gettext("Choose one of the clinic's pools."))
        elif services.thread_assign_pool(
            thread=thread, pool=form.cleaned_data["pool"], assigned_by=request.user, request=request
        ):
            pool = form.cleaned_data["pool"]
            messages.success(
                request,
                gettext("Moved to %(pool)s.") % {"pool": pool.name}
                if pool
                else gettext("Taken out of its pool."),
            )
        return redirect(self._change_url(thread))

    def attachment_view(self, request, attachment_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        attachment = selectors.get_attachment_for_staff(request, attachment_id)
        response = attachment_response(attachment)
        services.attachment_record_download(
            attachment=attachment, reader=request.user, request=request
        )
        return response
