from django.contrib.auth.forms import PasswordChangeForm


class StaffPasswordChangeForm(PasswordChangeForm):
    """Checks the current password and the new one (the password validators); the
    change itself is ``services.staff_password_change``."""

    required_css_class = "required"

    def save(self, commit=True):
        raise NotImplementedError("use portal.staff.services.staff_password_change")
