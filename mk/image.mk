# Container images: the app image (images/Dockerfile) and the spark-operator image on top of it.
# Included by the main Makefile (versions.env is loaded there). Here, with no registry reachable,
# the engine and the base image are made locally: see images/README.md.

IMAGE_NAME     ?= fruits-pipeline
IMAGE_TAG      ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE          ?= $(IMAGE_NAME):$(IMAGE_TAG)
# The dated Debian tag written once, as images/Dockerfile's ARG default.
BASE_IMAGE     ?= $(shell sed -n 's/^ARG BASE_IMAGE=//p' images/Dockerfile)
# random | imagenet | file (IMAGE_WEIGHTS_FILE=path/to/notop.h5 is copied in)
IMAGE_WEIGHTS_FILE ?=
IMAGE_WEIGHTS  ?= $(if $(IMAGE_WEIGHTS_FILE),file,random)
# Tagged like the upstream chart (appVersion without the v), as values-kind.yaml expects.
OPERATOR_IMAGE ?= fruits-spark-operator:$(SPARK_OPERATOR_VERSION:v%=%)
OPERATOR_BIN   := $(FRUITS_CACHE)/operator/spark-operator-$(SPARK_OPERATOR_VERSION)

##@ Container images

.PHONY: lock
lock: install ## Re-resolve images/requirements.lock (hashed) from pyproject.toml; run after changing its dependencies
	@$(VENV_PY) -c 'import platform, sys; sys.exit(None if sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64" \
	  else "make lock resolves for the image (Python 3.11, Linux, x86_64) in $(VENV), which is Python %d.%d on %s %s" % (*sys.version_info[:2], sys.platform, platform.machine()))'
	CUSTOM_COMPILE_COMMAND='make lock' $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps \
	  --strip-extras --no-emit-find-links $(LOCK_ARGS) --output-file=$(IMAGE_LOCK) pyproject.toml

.PHONY: apt-pins
apt-pins: ## The Debian mirror's current version of each apt pin in the Dockerfiles; WRITE=1 updates the pins
	eval "$$(images/docker-up.sh)" && hack/airgap/base-image.sh '$(BASE_IMAGE)' && images/apt-pins.sh $(if $(WRITE),--write) '$(BASE_IMAGE)' $(DOCKERFILES)

.PHONY: image
image: ## Build the app image fruits-pipeline:<version> (engine and base image made if missing; prints its size)
	WEIGHTS_FILE='$(IMAGE_WEIGHTS_FILE)' BASE_IMAGE='$(BASE_IMAGE)' images/build.sh app '$(IMAGE)' \
	  --build-arg BASE_IMAGE='$(BASE_IMAGE)' \
	  --build-arg WEIGHTS='$(IMAGE_WEIGHTS)' \
	  --label org.opencontainers.image.version='$(IMAGE_TAG)' \
	  --label org.opencontainers.image.revision="$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

.PHONY: operator-image
operator-image: image $(OPERATOR_BIN) ## Build the spark-operator image (SPARK_OPERATOR_VERSION) on top of the app image
	images/build.sh operator '$(OPERATOR_IMAGE)' '$(OPERATOR_BIN)' \
	  --build-arg APP_IMAGE='$(IMAGE)' \
	  --build-arg SPARK_OPERATOR_VERSION='$(SPARK_OPERATOR_VERSION)'

# The image's Python dependencies, every one pinned with its hashes: pyproject.toml's runtime pins
# and build requirements, resolved by pip in .venv, whose Python is the image's (3.11, Linux, x86_64).
IMAGE_LOCK     := images/requirements.lock
# Every Dockerfile of the repository: make lint runs hadolint over them, make apt-pins reads their pins.
DOCKERFILES     = $(shell git ls-files '*Dockerfile' 2>/dev/null)
# Versions already in the lock are kept unless pyproject.toml moves them; LOCK_ARGS=--upgrade
# takes the newest of every unpinned one.
LOCK_ARGS      ?=

$(OPERATOR_BIN):
	hack/airgap/build-operator.sh '$(SPARK_OPERATOR_VERSION)' '$@'

.PHONY: image-test
image-test: ## Smoke-test the app image: imports, spark-submit as an arbitrary UID, entrypoint roles
	images/smoke-test.sh '$(IMAGE)'

.PHONY: base-image
base-image: ## Make sure the base image (BASE_IMAGE, images/Dockerfile's default) exists: pulled, or debootstrapped and imported
	eval "$$(images/docker-up.sh)" && hack/airgap/base-image.sh '$(BASE_IMAGE)'

.PHONY: docker-up
docker-up: ## Start a Docker engine if none answers; prints the DOCKER_HOST line to eval
	@images/docker-up.sh

.PHONY: docker-down
docker-down: ## Stop the Docker engine that docker-up started (if any)
	@images/docker-up.sh --stop
