"""Sign-in locks: consecutive failed proofs per subject, cool-offs and hard locks.

A subject is what a failure is counted against: an account (``subject_for_user``), a
pending sign-in's ID + contact (``subject_for_identity``), or the source of an attempt
(``subject_for_source``). A failure counts against an account only when the account has
the credential that was tried (its contact's code, its password, its authenticator);
an attempt at a credential the account lacks costs the attempt's source, so nobody can
lock someone else out with guesses at a password that does not exist.

Every ten failures in a row cool a subject off for 15 minutes. Only a source (the
connection guesses come from, which the guesser holds) is locked until staff unlock it,
at 100: an account or an ID + contact belongs to a patient, and a stranger's guesses
must not shut them out for good, so they keep cooling off instead.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from patients.models import SignInLock
from portal.audit.services import audit_record
from portal.core.http import client_ip
from portal.core.identifiers import canonical_id_number


def _digest(raw: str) -> str:
    return salted_hmac("patients.signin.subject", raw, algorithm="sha256").hexdigest()


def subject_for_identity(*, clinic, id_number: str, id_type: str, destination: str) -> str:
    """A pending sign-in's subject: an HMAC of the canonical ID number and destination,
    so no ID is stored in clear and every spelling of them is one subject."""
    return _digest(f"{clinic.pk}|{id_type}|{canonical_id_number(id_number)}|{destination}")


def subject_for_user(user) -> str:
    return f"user:{user.pk}"


SOURCE_PREFIX = "source:"


def subject_for_source(*, clinic, request, what: str) -> str:
    """The subject of the connection an attempt came from (an HMAC of its address)."""
    return SOURCE_PREFIX + _digest(f"{clinic.pk}|source|{what}|{client_ip(request)}")[:56]


def hard_lockable(subject: str) -> bool:
    """Whether ``subject`` may be locked until staff unlock it: only a source may."""
    return subject.startswith(SOURCE_PREFIX)


def locks_for_update(clinic, subjects):
    """The lock rows for ``subjects`` ((subject, user) pairs), created if missing,
    locked for the caller's transaction."""
    for subject, user in subjects:
        SignInLock.objects.get_or_create(clinic=clinic, subject=subject, defaults={"user": user})
    names = [s for s, _ in subjects]
    return list(SignInLock.objects.select_for_update().filter(clinic=clinic, subject__in=names))


def locked_until(*, clinic, subjects) -> "timezone.datetime | None | bool":
    """None if none of ``subjects`` is locked; the retry time, or True for a hard lock."""
    now = timezone.now()
    result = None
    for lock in SignInLock.objects.filter(clinic=clinic, subject__in=subjects):
        if lock.hard_locked:
            return True
        if lock.locked_until and lock.locked_until > now:
            result = max(result, lock.locked_until) if result else lock.locked_until
    return result


def first_lock(locks, at=None):
    """(locked, retry_at) for the first of ``locks`` that is locked."""
    for lock in locks:
        if lock.is_locked(at):
            return True, True if lock.hard_locked else lock.locked_until
    return False, None


def record_failure(locks, *, request, clinic, method: str, user=None):
    """One more failure in a row for each subject; cool off at 10, 20, …; a source is
    hard-locked at 100, an account or an ID + contact cools off again every ten.

    ``method`` (passcode, password, authenticator) is kept on the row so staff see why
    an account is locked.
    """
    now = timezone.now()
    for lock in locks:
        lock.failures += 1
        lock.last_method = method
        if lock.failures >= SignInLock.HARD_LOCK_AT and hard_lockable(lock.subject):
            if not lock.hard_locked:
                lock.hard_locked = True
                audit_record(
                    action="signin.hard_locked",
                    request=request,
                    clinic=clinic,
                    obj=lock,
                    actor=None,  # only a source is hard-locked
                    details={"failures": lock.failures, "method": method},
                )
        elif lock.failures % SignInLock.COOL_OFF_EVERY == 0:
            lock.locked_until = now + SignInLock.COOL_OFF
            audit_record(
                action="signin.locked",
                request=request,
                clinic=clinic,
                obj=lock,
                actor=None if hard_lockable(lock.subject) else user,
                details={"failures": lock.failures, "method": method},
            )
        lock.save(
            update_fields=["failures", "hard_locked", "locked_until", "last_method", "updated_at"]
        )


def record_success(locks):
    for lock in locks:
        if lock.failures or lock.locked_until:
            lock.failures = 0
            lock.locked_until = None
            lock.save(update_fields=["failures", "locked_until", "updated_at"])


def account_locked(user) -> "timezone.datetime | None | bool":
    """Whether the account itself is locked (None, a retry time, or True)."""
    return locked_until(clinic=user.clinic, subjects=[subject_for_user(user)])


def signin_lock_unlock(*, lock: SignInLock, unlocked_by, request=None) -> None:
    """Staff clear a lock (cool-off or hard lock). Recorded in the audit log."""
    with transaction.atomic():
        lock = SignInLock.objects.select_for_update().get(pk=lock.pk)
        lock.failures = 0
        lock.locked_until = None
        lock.hard_locked = False
        lock.save(update_fields=["failures", "locked_until", "hard_locked", "updated_at"])
        audit_record(
            action="signin.unlocked",
            request=request,
            clinic=lock.clinic,
            actor=unlocked_by,
            obj=lock.user or lock,
        )
