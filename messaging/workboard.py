"""The messaging app's queues on the front desk's work screen (``clinics.workboard``):
messages awaiting a reply, one row per message pool that has some."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinics import workboard
from messaging.selectors import threads_awaiting_reply_by_pool

KEY = "messaging.awaiting_reply"
CHANGELIST = "admin:messaging_thread_changelist?awaiting=yes"


def threads_awaiting_reply(*, clinic, now) -> list[workboard.Row]:
    """Threads whose last message is the patient's and nobody marked handled, waiting
    since that message: a row per pool (two queries whatever the number of threads or
    pools); one plain row while the clinic has nothing waiting or no pools."""
    found = threads_awaiting_reply_by_pool(clinic=clinic)
    label = gettext("Messages awaiting a reply")
    per_pool = gettext("Messages awaiting a reply: %(pool)s")
    if not found or (len(found) == 1 and found[0]["pool"] is None):
        count = found[0]["count"] if found else 0
        since = found[0]["oldest"] if found else None
        return [workboard.Row(KEY, label, count, since, workboard.admin_url(CHANGELIST))]
    rows = []
    for row in found:
        pool = row["pool"]
        if pool is None:
            key, name, value = f"{KEY}.none", gettext("no pool"), "none"
        else:
            key, name, value = f"{KEY}.pool-{pool.pk}", pool.name, str(pool.pk)
        rows.append(
            workboard.Row(
                key,
                per_pool % {"pool": name},
                row["count"],
                row["oldest"],
                workboard.admin_url(f"{CHANGELIST}&pool={value}"),
            )
        )
    return rows


def register_items():
    workboard.register(
        KEY,
        order=30,
        label=_("Messages awaiting a reply"),
        loader=threads_awaiting_reply,
        url=CHANGELIST,
        permission="messaging.view_thread",
    )
