"""Sign-in locks: consecutive failed proofs per subject, cool-offs and hard locks.

A subject is what a failure is counted against: an account (``subject_for_user``), a
pending sign-in's ID + contact (``subject_for_identity``), or the source of an attempt
(``subject_for_source``). A failure counts against an account only when the account has
the credential that was tried (its contact's code, its password, its authenticator);
an attempt at a credential the account lacks costs the attempt's source, so nobody can
lock someone else out with guesses at a password that does not exist.
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


def subject_for_source(*, clinic, request, what: str) -> str:
    """The subject of the connection an attempt came from (an HMAC of its address)."""
    return _digest(f"{clinic.pk}|source|{what}|{client_ip(request)}")


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
    """One more failure in a row for each subject; lock at 10, 20, …; hard-lock at 100.

    ``method`` (passcode, password, authenticator) is kept on the row so staff see why
    an account is locked.
    """
    now = timezone.now()
    for lock in locks:
        lock.failures += 1
        lock.last_method = method
        if lock.failures >= SignInLock.HARD_LOCK_AT:
            if not lock.hard_locked:
                lock.hard_locked = True
                audit_record(
                    action="signin.hard_locked",
                    request=request,
                    clinic=clinic,
                    obj=lock,
                    actor=user,
                    details={"failures": lock.failures, "method": method},
                )
        elif lock.failures % SignInLock.COOL_OFF_EVERY == 0:
            lock.locked_until = now + SignInLock.COOL_OFF
            audit_record(
                action="signin.locked",
                request=request,
                clinic=clinic,
                obj=lock,
                actor=user,
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
