from django.utils.translation import gettext_lazy as _

from clinics.models import User


class StaffMember(User):
    """A clinic's staff account as its clinic admins see it in the clinic admin: sign-in
    lock, second factor and sessions, never the account's password or roles (operators
    manage those)."""

    class Meta:
        proxy = True
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
