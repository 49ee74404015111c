from django.urls import path, re_path

from fhir_api import views
from fhir_api.tasks import TASK_KINDS

app_name = "fhir"

urlpatterns = [
    path("", views.transaction_bundle, name="base"),
    path("metadata", views.metadata, name="metadata"),
    path(".well-known/smart-configuration", views.smart_configuration, name="smart-configuration"),
    path("auth/token", views.token, name="token"),
    path("Patient", views.patient_type, name="patient-type"),
    path("Patient/<int:pk>", views.patient_instance, name="patient"),
    path("Practitioner", views.practitioner_type, name="practitioner-type"),
    path("Practitioner/<int:pk>", views.practitioner_instance, name="practitioner"),
    path("Schedule", views.schedule_type, name="schedule-type"),
    path("Schedule/<int:pk>", views.schedule_instance, name="schedule"),
    path("Slot", views.slot_type, name="slot-type"),
    path("Appointment", views.appointment_type, name="appointment-type"),
    path("Appointment/<int:pk>", views.appointment_instance, name="appointment"),
    path("RelatedPerson", views.related_person_type, name="related-person-type"),
    path("RelatedPerson/<int:pk>", views.related_person_instance, name="related-person"),
    path("Communication", views.communication_type, name="communication-type"),
    path("Communication/<int:pk>", views.communication_instance, name="communication"),
    re_path(r"^.+$", views.not_found),
]

# --- Task: one URL per kind of request (fhir_api.tasks), before the catch-all ---
urlpatterns[-1:-1] = [
    path("Task", views.task_type, name="task-type"),
    *(
        path(f"Task/{kind.prefix}-<int:pk>", views.task_instance, {"prefix": kind.prefix})
        for kind in TASK_KINDS
    ),
]
