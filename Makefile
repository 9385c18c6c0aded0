# fruits-pipeline: every entry point. `make help` lists them.
# Versions of the runtime live in pyproject.toml; versions of tools in versions.env.
SHELL := /bin/bash
.DEFAULT_GOAL := help

include versions.env
export

PYTHON      ?= python3
VENV        := .venv
VENV_PY     := $(VENV)/bin/python
FRUITS      := $(VENV)/bin/fruits
# Downloaded jars, the MinIO binary and other tools: project-local unless the caller shares a cache.
FRUITS_CACHE ?= $(CURDIR)/.cache
BIN         := $(CURDIR)/bin
SAMPLE_DIR  ?= data/sample
OUTPUT_DIR  ?= out/demo
PYTEST_ARGS ?=
# make test runs test modules on this many processes at once (pytest-xdist), each with its own Spark
# and MinIO: much of a test's time is a JVM, TensorFlow or a server starting, not the cores' work.
TEST_WORKERS ?= 2

export FRUITS_CACHE
export PATH := $(BIN):$(PATH)

##@ Everyday

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)

.PHONY: install
install: $(VENV)/.installed system-deps ## Create the project virtualenv (.venv) with the job and its test tools

$(VENV)/.installed: pyproject.toml
	@echo ">> creating $(VENV) and installing fruits-pipeline (first time: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet -e '.[test]'
	@touch $@

.PHONY: system-deps
system-deps: ## Java 17+ (required) and OpenBLAS (faster PCA): apt-get installs them as root, else a hint
	@scripts/system-deps.sh

.PHONY: sample
sample: install ## Generate the demo data set into data/sample
	$(FRUITS) sample --output $(SAMPLE_DIR) --seed 42

.PHONY: run
run: install ## Demo: generate the sample, run the job locally, print where the outputs are
	@scripts/demo.sh "$(FRUITS)" "$(SAMPLE_DIR)" "$(OUTPUT_DIR)"

.PHONY: test
test: lint install jars minio toxiproxy ## make lint, then tiers 1-4: unit, spark, s3 (MinIO), chart; plus the model port (tests/models)
	$(VENV_PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Every shell script of the project: tracked *.sh files and the CI entry point.
SHELL_SCRIPTS = $(shell git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './.*' -not -path './bin/*')

# DL4006 (pipefail) in the kind node image's Dockerfile waits for that file's next change: any edit
# changes the node image's tag, a 45-75 min rebuild.
HADOLINT_LATER = hack/airgap/node/Dockerfile

.PHONY: lint
lint: install ## shellcheck over every shell script, hadolint over every Dockerfile, ruff over the Python code, import-linter's layers (pyproject.toml), the examples in app/'s docstrings
	@echo ">> shellcheck $(words $(SHELL_SCRIPTS)) scripts"
	$(VENV)/bin/shellcheck $(SHELL_SCRIPTS)
	@echo ">> hadolint $(words $(DOCKERFILES)) Dockerfiles"
	$(VENV)/bin/hadolint $(filter-out $(HADOLINT_LATER),$(DOCKERFILES))
	$(VENV)/bin/hadolint --ignore DL4006 $(HADOLINT_LATER)
	@echo ">> ruff check"
	$(VENV)/bin/ruff check app tests bench hack
	@echo ">> import-linter: the package's layers"
	$(VENV)/bin/lint-imports
	@echo ">> doctests in app/"
	$(VENV_PY) -m pytest --doctest-modules app -q

.PHONY: test-unit
test-unit: install ## Tier 1 only: no JVM, seconds
	$(VENV_PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: test-reference
test-reference: install ## EfficientNet-Lite0 port vs the PyTorch reference (installs torch: several GB)
	$(VENV_PY) -m pip install --quiet -e '.[test,reference]'
	$(VENV_PY) -m pytest tests/models $(PYTEST_ARGS)

##@ Dependencies fetched on first use

.PHONY: jars
jars: install ## Download the S3A jars (hadoop-aws + AWS SDK bundle) matching pyspark's Hadoop
	$(VENV_PY) -m fruits.spark.jars --dest $(FRUITS_CACHE)/jars

.PHONY: minio
minio: $(BIN)/minio ## Build the pinned MinIO server into bin/ (go install)

$(BIN)/minio: versions.env
	@echo ">> go install MinIO $(MINIO_VERSION) (first time: a few minutes)"
	GOBIN=$(BIN) go install github.com/minio/minio@$(MINIO_VERSION)
	@touch $@

.PHONY: toxiproxy
toxiproxy: $(BIN)/toxiproxy-server ## Build the pinned Toxiproxy server into bin/ (go install): S3 at cloud latency

# The module's command is named `server`: installed into a scratch GOBIN, then renamed.
$(BIN)/toxiproxy-server: versions.env
	@echo ">> go install Toxiproxy $(TOXIPROXY_VERSION)"
	GOBIN=$(BIN)/.toxiproxy go install -ldflags '-X github.com/Shopify/toxiproxy/v2.Version=$(TOXIPROXY_VERSION)' \
		github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION)
	mv $(BIN)/.toxiproxy/server $@ && rmdir $(BIN)/.toxiproxy
	@touch $@

.PHONY: clean
clean: ## Remove outputs and the sample (keeps .venv, bin/ and caches)
	rm -rf out data

-include mk/*.mk

##@ Beyond one process

.PHONY: standalone-up
standalone-up: install ## Start a Spark standalone master and 2 workers here (then: fruits run --master spark://127.0.0.1:7077)
	@scripts/standalone.sh up

.PHONY: standalone-down
standalone-down: ## Stop the standalone cluster
	@scripts/standalone.sh down

.PHONY: connect-up
connect-up: install ## Start a Spark Connect server here on 127.0.0.1:15002 (then: fruits run --remote sc://127.0.0.1:15002)
	@scripts/connect-server.sh up

.PHONY: connect-down
connect-down: ## Stop the Spark Connect server
	@scripts/connect-server.sh down

.PHONY: notebook
notebook: install ## Run examples/fruits.ipynb on a generated sample; the executed copy: out/notebook/fruits.ipynb
	@mkdir -p out/notebook
	FRUITS_EXAMPLE_WORK=$(CURDIR)/out/notebook $(VENV_PY) -c 'import nbformat, nbclient; \
	nb = nbformat.read("examples/fruits.ipynb", as_version=4); \
	nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3").execute(); \
	nbformat.write(nb, "out/notebook/fruits.ipynb")'
	@echo "executed: out/notebook/fruits.ipynb (pictures in out/notebook/)"

##@ Measurements

.PHONY: bench
# 8,000 images: long enough that the run's fixed ~20 s (JVM warm-up, TensorFlow start in each
# worker, model save) weigh as they would on a real input; BENCH_IMAGES=2000 for a quick look.
BENCH_IMAGES ?= 8000

bench: install ## The job vs its model alone on $(BENCH_IMAGES) JPEGs; PRECISION=int8, MODEL=efficientnet-lite0; out/bench/result*.json
	$(VENV_PY) bench/throughput.py --images $(BENCH_IMAGES) $(if $(MODEL),--model $(MODEL)) $(if $(PRECISION),--precision $(PRECISION))

.PHONY: bench-pca
bench-pca: install ## Scaler + PCA fit on 90,000 x 2048 generated features (Fruits-360 size); writes out/bench-pca/result.json
	$(VENV_PY) bench/pca_fit.py --rows 90000 --dim 2048

.PHONY: bench-scale
# The driver at two input sizes: N/10 and N generated images (N=1000000 by default), a 1 GB driver.
N ?= 1000000

bench-scale: install ## Driver memory and stage seconds at N/10 and N images (stand-in model); prints driver ratio
	$(VENV_PY) bench/scale.py --sizes $$(( $(N) / 10 )),$(N)

.PHONY: bench-int8
bench-int8: install ## int8 (TFLite, quantized as --precision int8 does) vs the fp32 ceiling on 2,000 JPEGs; writes out/bench/int8.json
	$(VENV_PY) bench/int8.py --images 2000

.PHONY: bench-incremental
bench-incremental: install ## 900 images added to a hand-made 90,000-row lake vs the 900 alone; prints ratio; out/bench-incremental/result.json
	$(VENV_PY) bench/incremental.py

.PHONY: bench-s3
# BENCH_IMAGES images (8,000), or N= on the command line; MODEL=, PRECISION= and WEIGHTS= choose the featurizer.
bench-s3: install jars minio toxiproxy ## The job from local files vs MinIO through Toxiproxy, plain and +20 ms per response, and from an image pack; prints s3 and pack ratios
	$(VENV_PY) bench/s3.py --images $(if $(filter command line environment,$(origin N)),$(N),$(BENCH_IMAGES)) \
		--model $(or $(MODEL),efficientnet-lite0) --precision $(or $(PRECISION),int8) $(if $(WEIGHTS),--weights $(WEIGHTS))
