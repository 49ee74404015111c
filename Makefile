# The two commands that matter: `make run` and `make test`. Both work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | cksum | cut -d' ' -f1)

.PHONY: run test install browser-tools lint lock check-image migrate seed worker beat clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# axe-core for the accessibility tests (package-lock.json). Without npm those tests are
# skipped with a loud reason; under PORTAL_REQUIRE_BROWSER (CI) they fail instead.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

browser-tools:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(NODE_STAMP); \
	  else echo "npm not found: the accessibility (axe-core) tests will be skipped" >&2; fi

## make run: install, migrate, load the demo clinics, serve http://demo.localhost:8000/portal/
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 0.0.0.0:8000

## make test: install, lint, and run the whole suite on two processes (pytest-xdist; each
## has its own test database and Redis database). PYTEST_ARGS replaces the default, e.g.
## `make test PYTEST_ARGS="tests/fhir -x"` runs one folder on one process.
PYTEST_ARGS ?= -n 2
test: install browser-tools
	$(BIN)/ruff check .
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; fi; \
	  exit $$rc

## make lock: regenerate requirements.lock (hashed pins the Docker image installs) from
## pyproject.toml's dependencies, resolved against PyPI only (no local indexes or wheels).
lock: install
	env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	  $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --output-file=requirements.lock pyproject.toml

## make check-image: run the Dockerfile's Python build steps in a clean environment
check-image:
	$(PYTHON) scripts/check_image_build.py

lint: install
	$(BIN)/ruff check .

worker: install
	$(BIN)/celery -A portal worker --loglevel=info

beat: install
	$(BIN)/celery -A portal beat --loglevel=info

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles node_modules
