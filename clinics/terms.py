"""A clinic's portal terms: the versions it publishes, and the text a new clinic starts with.

Writes (``terms_publish``) and reads (``terms_current``, ``terms_version_of``) of the
``PortalTerms`` rows. Patients' acceptances are kept by ``patients.terms``.
"""

from django.db import transaction
from django.utils import timezone

from clinics.models import PortalSettings, PortalTerms

# The terms every clinic starts with (clinic admins replace them in Portal settings).
# Plain text, in both languages the portal speaks; written for patients, not lawyers.
DEFAULT_TERMS_EN = """\
These terms apply to your use of this patient portal, run by the clinic for its patients.

1. What the portal is for. You can read and send messages, see and manage appointments, \
and see and ask to correct your details. The portal is not for emergencies: for urgent \
matters, call the clinic or emergency services.

2. Your account. Keep your sign-in details to yourself. Sign out when you use a shared \
computer. Tell the clinic at once if you think someone else used your account.

3. Acting for someone else. If you act for another person (a child, or someone you care \
for), use their information only for their care, and only as long as you are allowed to.

4. Messages. The clinic answers messages during its working hours; answers may take a few \
days. Messages become part of your chart.

5. Your information. The clinic keeps your information confidential, uses it for your \
care, and records who views or changes it. You can see this in your account activity.

6. Changes. The clinic may change these terms. When it does, the portal asks you to read \
and accept the new version before you continue.
"""

DEFAULT_TERMS_FR = """\
Les présentes conditions s'appliquent à votre utilisation de ce portail patient, offert \
par la clinique à ses patients.

1. À quoi sert le portail. Vous pouvez lire et envoyer des messages, voir et gérer vos \
rendez-vous, et consulter vos renseignements et demander de les corriger. Le portail ne \
sert pas aux urgences : pour une question urgente, appelez la clinique ou les services \
d'urgence.

2. Votre compte. Gardez vos informations de connexion pour vous. Déconnectez-vous sur un \
ordinateur partagé. Avisez la clinique sans tarder si vous croyez que quelqu'un d'autre a \
utilisé votre compte.

3. Agir pour une autre personne. Si vous agissez pour une autre personne (un enfant, ou une \
personne dont vous prenez soin), utilisez ses renseignements seulement pour ses soins, et \
seulement tant que vous y êtes autorisé.

4. Messages. La clinique répond aux messages pendant ses heures d'ouverture ; une réponse \
peut prendre quelques jours. Les messages font partie de votre dossier.

5. Vos renseignements. La clinique garde vos renseignements confidentiels, les utilise pour \
vos soins et note qui les consulte ou les modifie. Vous le voyez dans l'activité de votre \
compte.

6. Modifications. La clinique peut modifier ces conditions. Dans ce cas, le portail vous \
demande de lire et d'accepter la nouvelle version avant de continuer.
"""


def terms_current(*, clinic) -> PortalTerms | None:
    """The version in force, or None when the clinic has published none."""
    return PortalTerms.objects.for_clinic(clinic).order_by("-version").first()


@transaction.atomic
def terms_publish(*, clinic, text_en: str, text_fr: str = "", published_by=None) -> PortalTerms:
    """Publish a new version of the clinic's terms (a new row; earlier versions stay as
    they were accepted) and make it the one in force: signed-in patients are asked to
    accept it before they continue. Serialised per clinic by a lock on its settings."""
    settings_row = PortalSettings.objects.select_for_update().get(clinic=clinic)
    version = settings_row.terms_version + 1
    terms = PortalTerms.objects.create(
        clinic=clinic,
        version=version,
        text_en=text_en.strip(),
        text_fr=text_fr.strip(),
        published_at=timezone.now(),
        published_by=published_by,
    )
    settings_row.terms_version = version
    settings_row.save(update_fields=["terms_version"])
    return terms


def terms_ensure_default(*, clinic) -> None:
    """A clinic without terms gets the default text as version 1. Idempotent."""
    if not PortalTerms.objects.for_clinic(clinic).exists():
        terms_publish(clinic=clinic, text_en=DEFAULT_TERMS_EN, text_fr=DEFAULT_TERMS_FR)
