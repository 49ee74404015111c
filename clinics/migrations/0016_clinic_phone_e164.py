import phonenumber_field.modelfields
import phonenumbers
from django.db import migrations


def phones_to_e164(apps, schema_editor):
    """Each clinic's phone, read the way its country writes numbers, stored in E.164.
    A value that is no phone number ("call us") is left as it was: the operators' form
    refuses it until someone types a number, rather than losing what was written."""
    Clinic = apps.get_model("clinics", "Clinic")
    for clinic in Clinic.objects.exclude(phone="").only("pk", "phone", "country"):
        try:
            number = phonenumbers.parse(str(clinic.phone), (clinic.country or "CA").upper())
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            Clinic.objects.filter(pk=clinic.pk).update(phone=e164)


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0015_portal_terms_versions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="clinic",
            name="phone",
            field=phonenumber_field.modelfields.PhoneNumberField(
                blank=True, max_length=128, region=None, verbose_name="clinic phone"
            ),
        ),
        migrations.RunPython(phones_to_e164, migrations.RunPython.noop, elidable=True),
    ]
