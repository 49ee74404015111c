"""The health record's section on the chart's page in the clinic admin
(``templates/admin/patients/patient/change_form.html`` includes it by this tag)."""

from django import template

from records.selectors import chart_record_summary

register = template.Library()


@register.inclusion_tag("admin/records/_chart_record.html")
def chart_health_record(patient):
    if patient is None or patient.pk is None:
        return {"summary": None}
    return {"summary": chart_record_summary(patient), "patient": patient}
