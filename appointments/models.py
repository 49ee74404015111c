from django.db import models
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned


class Provider(ClinicOwned):
    """A clinician patients can see."""

    name = models.CharField(_("name"), max_length=200)
    title = models.CharField(_("title"), max_length=100, blank=True)
    bookable_online = models.BooleanField(_("bookable online"), default=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("provider")
        verbose_name_plural = _("providers")

    def __str__(self):
        return self.name
