from celery import shared_task

from records.services import result_notices_send


@shared_task(ignore_result=True)
def send_result_notices():
    """Every few minutes: tell patients of results their clinic's rules have just
    released (a delay of days, a review); each result is announced once."""
    return result_notices_send()
