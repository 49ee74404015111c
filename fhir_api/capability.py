"""The CapabilityStatement: exactly what this API supports."""

from fhir_api import health_record_representation as health_record
from fhir_api.representation import (
    CATEGORY_SYSTEM,
    REPRESENTATIVE_SCOPE,
    THREAD_SYSTEM,
    dumped,
)

MAX_TRANSACTION_ENTRIES = 1000  # the most entries one transaction Bundle may hold

_SEARCH = {
    "Patient": [
        ("identifier", "token"),
        ("name", "string"),
        ("birthdate", "date"),
        ("_lastUpdated", "date"),
    ],
    "Practitioner": [("name", "string")],
    "Schedule": [("actor", "reference")],
    "Slot": [("schedule", "reference"), ("start", "date"), ("status", "token")],
    "Appointment": [
        ("patient", "reference"),
        ("date", "date"),
        ("status", "token"),
        ("_lastUpdated", "date"),
    ],
    # --- RelatedPerson and Communication ---
    "RelatedPerson": [("patient", "reference"), ("active", "token"), ("_lastUpdated", "date")],
    "Communication": [
        ("patient", "reference"),
        ("subject", "reference"),
        ("sent", "date"),
        ("_lastUpdated", "date"),
    ],
}
_INTERACTIONS = {
    "Patient": ["read", "search-type", "create", "update"],
    "Practitioner": ["read", "search-type"],
    "Schedule": ["read", "search-type"],
    "Slot": ["search-type"],
    "Appointment": ["read", "search-type", "create", "update"],
    # --- RelatedPerson and Communication ---
    "RelatedPerson": ["read", "search-type"],
    "Communication": ["read", "search-type", "create"],
}
_VERSIONED = {"Patient", "Appointment"}
_VERSIONED_READ_ONLY = {"RelatedPerson"}  # versionIds, no updates
# What the API's own resources say beyond the base specification.
_DOCUMENTATION = {
    "RelatedPerson": (
        "A representative's grant to a chart (parent, guardian, carer, spouse, other); "
        "active while the grant works (not revoked, expired or ended by the child's age). "
        f"Extension {REPRESENTATIVE_SCOPE} (valueCode, repeated): what the grant "
        "covers, among appointments, messages, demographics, health_record (the "
        "health record: granted by staff, or a parent's or guardian's while the child "
        "is younger than the clinic's age for it)."
    ),
    "Communication": (
        f"A portal message. identifier {THREAD_SYSTEM} names its thread; inResponseTo "
        "the message before it; attachments by name, type and size only; _lastUpdated "
        "is when it was sent. create: a message from the clinic to the subject Patient, "
        "in the thread it answers (inResponseTo or the thread identifier) or a new one "
        f"(topic.text, category {CATEGORY_SYSTEM}); no sender, one contentString."
    ),
}

# The health record (fhir_api.health_record): read, search, create and update, versioned.
_SEARCH.update(health_record.SEARCH_PARAMS)
_INTERACTIONS.update(
    {r: ["read", "search-type", "create", "update"] for r in health_record.RESOURCES}
)
_VERSIONED.update(health_record.RESOURCES)


def capability_statement(base: str) -> dict:
    resources = []
    for kind, interactions in _INTERACTIONS.items():
        resource = {
            "type": kind,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update" if kind in _VERSIONED else "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": False,
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "searchParam": [{"name": name, "type": kind_} for name, kind_ in _SEARCH[kind]],
        }
        if kind in _VERSIONED_READ_ONLY:
            resource["versioning"] = "versioned"
        if kind in _DOCUMENTATION:
            resource["documentation"] = _DOCUMENTATION[kind]
        resources.append(resource)
    return dumped(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-07",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "implementation": {"description": "Patient portal FHIR API", "url": base},
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "service": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                        "code": "SMART-on-FHIR",
                                    }
                                ]
                            }
                        ],
                        "extension": [
                            {
                                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                                "extension": [{"url": "token", "valueUri": f"{base}auth/token"}],
                            }
                        ],
                    },
                    "resource": resources,
                    "interaction": [
                        {
                            "code": "transaction",
                            "documentation": (
                                f"Patients and Appointments, all or nothing; at most "
                                f"{MAX_TRANSACTION_ENTRIES} entries a Bundle"
                            ),
                        }
                    ],
                }
            ],
        }
    )


# --- Task: patients' requests (fhir_api.tasks), decided by an update ---
_SEARCH["Task"] = [
    ("status", "token"),
    ("_lastUpdated", "date"),
    ("patient", "reference"),
    ("code", "token"),
]
_INTERACTIONS["Task"] = ["read", "search-type", "update"]
_VERSIONED.add("Task")
