"""A role's group is found, or made again with its permissions when it went missing."""

import pytest
from django.contrib.auth.models import Group

from clinics.roles import CLINIC_ADMIN, FRONT_DESK, ROLE_PERMISSIONS, role_group

pytestmark = pytest.mark.django_db


def test_a_missing_role_group_is_made_again_with_its_permissions():
    Group.objects.all().delete()
    group = role_group(FRONT_DESK)
    assert group.name == FRONT_DESK
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted and granted <= set(ROLE_PERMISSIONS[FRONT_DESK])
    assert role_group(CLINIC_ADMIN).pk != group.pk
    assert role_group(FRONT_DESK).pk == group.pk


def test_only_roles_have_groups():
    with pytest.raises(ValueError):
        role_group("superuser")
