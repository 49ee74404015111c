"""Demo threads for `make run`: created once, never duplicated."""

import io

import pytest
from django.core.management import call_command

from messaging.demo import seed_demo_messages
from messaging.models import Message, Thread

pytestmark = pytest.mark.django_db


def test_the_demo_data_has_threads_and_running_it_again_changes_nothing(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    threads, messages = Thread.objects.count(), Message.objects.count()
    assert threads >= 3 and messages >= 5
    assert Thread.objects.filter(clinic__slug="demo").count() == 2
    assert Thread.objects.filter(clinic__slug="northside").count() == 1
    call_command("seed_demo", stdout=io.StringIO())
    assert (Thread.objects.count(), Message.objects.count()) == (threads, messages)


def test_each_demo_thread_belongs_to_its_clinics_patient_and_has_unread_news(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    for thread in Thread.objects.select_related("patient"):
        assert thread.patient.clinic_id == thread.clinic_id
        assert all(m.clinic_id == thread.clinic_id for m in thread.messages.all())
        last = thread.messages.last()
        assert thread.last_sender_side == last.sender_side
        assert last.read_by_patient_at is None or last.read_by_staff_at is None


def test_a_clinic_without_the_demo_patients_gets_no_threads(clinic):
    assert seed_demo_messages(clinic) == 0
    assert not Thread.objects.exists()
