from django.urls import path, re_path

from fhir_api import health_record, views
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
    # The health record (fhir_api.health_record)
    path("Observation", health_record.observation_type, name="observation-type"),
    path("Observation/<int:pk>", health_record.observation_instance, name="observation"),
    path("DiagnosticReport", health_record.diagnostic_report_type, name="diagnostic-report-type"),
    path(
        "DiagnosticReport/<int:pk>",
        health_record.diagnostic_report_instance,
        name="diagnostic-report",
    ),
    path(
        "MedicationRequest", health_record.medication_request_type, name="medication-request-type"
    ),
    path(
        "MedicationRequest/<int:pk>",
        health_record.medication_request_instance,
        name="medication-request",
    ),
    path(
        "MedicationStatement",
        health_record.medication_statement_type,
        name="medication-statement-type",
    ),
    path(
        "MedicationStatement/<int:pk>",
        health_record.medication_statement_instance,
        name="medication-statement",
    ),
    path("AllergyIntolerance", health_record.allergy_type, name="allergy-intolerance-type"),
    path("AllergyIntolerance/<int:pk>", health_record.allergy_instance, name="allergy-intolerance"),
    path("Immunization", health_record.immunization_type, name="immunization-type"),
    path("Immunization/<int:pk>", health_record.immunization_instance, name="immunization"),
    path("DocumentReference", health_record.document_type, name="document-reference-type"),
    path("DocumentReference/<int:pk>", health_record.document_instance, name="document-reference"),
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
