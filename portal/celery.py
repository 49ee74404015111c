import os

# Before django_guid, whose import reads the settings: `make worker` sets no module.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from celery import Celery  # noqa: E402
from celery.signals import (  # noqa: E402
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
)
from django_guid import clear_guid, get_guid, set_guid  # noqa: E402
from django_guid.utils import generate_guid  # noqa: E402

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The request id travels with each task in a message header of its own: the worker logs
# under the id of the request (or task) that queued the work. A task beat starts gets a new
# one. Tasks run in-process (no REDIS_URL, and in tests) keep the caller's id untouched.
REQUEST_ID_HEADER = "portal_request_id"


@before_task_publish.connect
def pass_request_id(headers=None, **kwargs):
    request_id = get_guid()
    if request_id and headers is not None:
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect
def adopt_request_id(task=None, **kwargs):
    if task is None or task.request.is_eager:
        return
    set_guid(task.request.get(REQUEST_ID_HEADER) or generate_guid())


@task_postrun.connect
def drop_request_id(task=None, **kwargs):
    if task is not None and not task.request.is_eager:
        clear_guid()


@setup_logging.connect
def use_the_portals_logging(loglevel=None, **kwargs):
    """The worker and beat log through the settings' LOGGING (format, request id on every
    line) instead of Celery's own set-up, at the level of their --loglevel."""
    import logging
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
