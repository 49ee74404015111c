"""The two admin sites.

``clinic_admin_site`` is served on each clinic's host to that clinic's staff only;
``platform_admin_site`` on the bare base domain to platform operators only. Both sign in
with ``clinics.staff_signin.StaffAuthenticationForm`` (throttled; one answer whatever is
wrong) and, when PORTAL_STAFF_OTP_REQUIRED is on (always in production), admit only a
session verified by an authenticator or backup code.
"""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from clinics import workboard
from clinics.staff_signin import StaffAuthenticationForm


class PortalAdminSite(OTPAdminSite):
    index_template = None
    # Without the model list down the left, a list's columns fit a 1280 px screen; the
    # index and the breadcrumbs lead everywhere the sidebar did.
    enable_nav_sidebar = False
    login_form = StaffAuthenticationForm
    login_template = "admin/staff_login.html"

    def has_permission(self, request):
        if settings.PORTAL_STAFF_OTP_REQUIRED:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)


class ClinicAdminSite(PortalAdminSite):
    site_title = _("Clinic admin")
    index_title = _("Clinic administration")
    index_template = "admin/clinic_index.html"

    def index(self, request, extra_context=None):
        """The front desk's work screen (``clinics.workboard``), then the model list."""
        rows = workboard.rows_for(user=request.user, clinic=request.clinic)
        return super().index(request, {**(extra_context or {}), "workboard": rows})

    def has_permission(self, request):
        clinic = getattr(request, "clinic", None)
        user = request.user
        return (
            clinic is not None
            and user.is_authenticated
            and user.clinic_id == clinic.pk
            and super().has_permission(request)
        )

    def each_context(self, request):
        context = super().each_context(request)
        clinic = getattr(request, "clinic", None)
        if clinic is not None:
            context["site_header"] = clinic.public_name
        return context


class PlatformAdminSite(PortalAdminSite):
    site_header = _("Patient portal operators")
    site_title = _("Platform admin")
    index_title = _("Platform administration")

    def has_permission(self, request):
        user = request.user
        return (
            getattr(request, "clinic", None) is None
            and user.is_authenticated
            and user.clinic_id is None
            and user.is_superuser
            and super().has_permission(request)
        )


clinic_admin_site = ClinicAdminSite(name="clinic_admin")
platform_admin_site = PlatformAdminSite(name="platform_admin")
