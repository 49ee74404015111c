"""The CapabilityStatement: exactly what this API supports."""

from fhir_api import health_record_representation as health_record
from fhir_api.representation import dumped

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
}
_INTERACTIONS = {
    "Patient": ["read", "search-type", "create", "update"],
    "Practitioner": ["read", "search-type"],
    "Schedule": ["read", "search-type"],
    "Slot": ["search-type"],
    "Appointment": ["read", "search-type", "create", "update"],
}
_VERSIONED = {"Patient", "Appointment"}
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
