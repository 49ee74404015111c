# One image for every process of the portal: web (gunicorn, the default CMD), worker
# (celery worker) and beat (celery beat). docker-compose.yml picks the process per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1
ENV PYTHONUNBUFFERED=1
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
ENV PIP_ROOT_USER_ACTION=ignore
# The settings locate templates/ and static/ relative to the portal package (BASE_DIR is
# three levels above portal/settings/). The copy `pip install .` puts in site-packages has
# neither folder, so the processes must import the project from the source tree in /app.
ENV PYTHONPATH=/app
# The image runs production settings unless told otherwise; the development default
# (portal.settings) has DEBUG on and a published SECRET_KEY.
ENV DJANGO_SETTINGS_MODULE=portal.settings.production
# gunicorn reads WEB_CONCURRENCY as its default worker count; override it at run time.
ENV WEB_CONCURRENCY=3

RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --create-home --home-dir /home/portal \
        --shell /usr/sbin/nologin portal

WORKDIR /app

# Dependencies first, from the lock alone, so a code change does not reinstall them. Every
# package is pinned with its hashes (requirements.lock, `make lock`): pip refuses anything
# else, including a dependency the lock forgot.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements.lock

# The processes import the project from this source tree (PYTHONPATH above), so it is not
# installed into site-packages: that would fetch an unpinned build backend for a copy
# nothing imports.
COPY . .

# The production settings refuse to load without SECRET_KEY, PORTAL_BASE_DOMAIN and
# EMAIL_URL, and collectstatic needs none of them (it runs only the static-files system
# checks, not the deployment ones). Placeholders are set on this RUN line only, so they are
# not in the image's environment (an ENV or ARG would persist in the image config or
# history) and a container started without the real values still refuses to start.
# scripts/check_image_build.py runs this line in CI.
RUN DJANGO_SETTINGS_MODULE=portal.settings.production \
    SECRET_KEY=collectstatic-build-only-dummy-not-a-secret \
    PORTAL_BASE_DOMAIN=build.invalid \
    EMAIL_URL=dummymail:// \
    python manage.py collectstatic --noinput

# The code and collected static files stay owned by root (read-only to the app); only the
# uploads folder (clinic logos) and the private message attachments are writable. Mount a
# volume on each to keep them, or set S3_BUCKET to keep both in a private bucket instead.
RUN mkdir -p /app/media /app/attachments && chown portal:portal /app/media /app/attachments

# Numeric, so orchestrators that enforce runAsNonRoot can verify it. 10001 is "portal".
USER 10001:10001

EXPOSE 8000

# No access log: gunicorn writes none unless --access-logfile is given, and its request
# line (%(r)s), path (%(U)s) and query (%(q)s) would record invitation and password-reset
# tokens, which travel in URL paths. Errors still go to stderr.
# /dev/shm for worker heartbeat files: the container's overlay filesystem can stall them.
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "sync", "--worker-tmp-dir", "/dev/shm"]
