# End-to-end tier (5): a real kind cluster, a control plane with an on-demand and a spot worker.
# Included by the main Makefile (versions.env is loaded there). By default the node image is built
# here from Go modules and Debian packages (hack/airgap/, for machines that cannot pull
# kindest/node); everything built is cached under $(KIND_CACHE). With a registry in reach, one
# variable uses a stock node image instead:
#   make e2e KIND_NODE_IMAGE=kindest/node:v1.34.3

##@ End-to-end (kind)

KIND_CLUSTER     ?= fruits
KIND_CACHE       ?= $(FRUITS_CACHE)/kind
KIND_KUBECONFIG  ?= $(KIND_CACHE)/kubeconfig-$(KIND_CLUSTER)
# The tag changes when a pin the node image is made from (KIND_*) or one of its files changes; other
# pins in versions.env (test tools, the app's Spark) leave the costly node image as it is.
KIND_NODE_HASH   := $(shell { grep -E '^KIND_' versions.env; cat hack/airgap/node/* hack/airgap/pause/*.go \
                      hack/airgap/build-components.sh hack/airgap/build-kube.sh hack/airgap/build-node-image.sh; } \
                      2>/dev/null | sha1sum | cut -c1-10)
KIND_NODE_IMAGE  ?= fruits-kind-node:$(KIND_NODE_KUBERNETES_VERSION)-$(KIND_NODE_HASH)
# A node image built here has no kindnetd (its own service sets up the pod network); a stock one
# runs kind's.
KIND_NODE_BUILT  := $(filter fruits-kind-node:%,$(KIND_NODE_IMAGE))
KIND_DEFAULT_CNI := $(if $(KIND_NODE_BUILT),no,yes)
# Opt-in: let `make kind-up` edit the Docker daemon's daemon.json where `docker run --privileged`
# fails for want of CAP_SYS_RESOURCE (docs/airgap.md). .ci/run opts in; nobody else is edited.
KIND_EDIT_DAEMON_JSON ?= $(FRUITS_EDIT_DAEMON_JSON)
MINIO_IMAGE      ?= fruits-minio:$(lastword $(subst -, ,$(MINIO_VERSION)))
# The in-cluster PostgreSQL of the job's Iceberg catalog: Debian's package of this major version
# (bookworm's), tagged with it as catalog.postgres.image.tag in values.yaml says.
CATALOG_POSTGRES_MAJOR ?= 15
CATALOG_IMAGE    ?= fruits-postgres:$(CATALOG_POSTGRES_MAJOR)
# The kind run's NetworkPolicy engine (kube-router's firewall; hack/kind/netpol.yaml).
NETPOL_IMAGE     ?= fruits-kube-router:$(KUBE_ROUTER_VERSION)
E2E_ARGS         ?=
# Free disk the e2e run needs beside what is built: each worker's copy of the images (about 4 GiB)
# and kind load's tar.
E2E_DISK_GIB     ?= 14
KIND_ENV         := KIND=$(BIN)/kind KUBECTL=$(BIN)/kubectl

.PHONY: kind-node-image
kind-node-image: $(BIN)/kind ## Build the kind node image from source (first time 45-75 min on 2 cores; cached); none for a stock KIND_NODE_IMAGE
ifeq ($(KIND_NODE_BUILT),)
	@echo ">> KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) is a stock node image: kind pulls it, nothing to build"
else
	@mkdir -p $(KIND_CACHE)
	eval "$$(images/docker-up.sh)" && hack/airgap/base-image.sh '$(BASE_IMAGE)' && \
	  nice -n 19 hack/airgap/build-node-image.sh '$(KIND_NODE_IMAGE)' '$(KIND_CACHE)'
endif

.PHONY: e2e-images
e2e-images: kind-node-image image operator-image catalog-image netpol-image $(BIN)/kind $(BIN)/kubectl ## Build the e2e tier's images and cluster tools (not MinIO's image: it needs bin/minio, which make test builds)

.PHONY: kind-up
kind-up: kind-node-image $(BIN)/kubectl ## Create the kind cluster $(KIND_CLUSTER) (kubeconfig in $(KIND_KUBECONFIG)) and wait for Ready
	eval "$$(images/docker-up.sh)" && $(KIND_ENV) FRUITS_EDIT_DAEMON_JSON='$(KIND_EDIT_DAEMON_JSON)' \
	  KIND_DEFAULT_CNI=$(KIND_DEFAULT_CNI) hack/kind/cluster.sh up '$(KIND_CLUSTER)' '$(KIND_NODE_IMAGE)' '$(KIND_KUBECONFIG)'

.PHONY: kind-down
kind-down: $(BIN)/kind ## Delete the kind cluster; fails if a container or network is left behind
	eval "$$(images/docker-up.sh)" && $(KIND_ENV) hack/kind/cluster.sh down '$(KIND_CLUSTER)' '$(KIND_KUBECONFIG)'

.PHONY: minio-image
minio-image: $(BIN)/minio ## Build the in-cluster MinIO image ($(MINIO_IMAGE)) from bin/minio on the base image
	eval "$$(images/docker-up.sh)" && hack/airgap/minio-image.sh '$(MINIO_IMAGE)' '$(BASE_IMAGE)' '$(BIN)/minio'

.PHONY: catalog-image
catalog-image: ## Build the in-cluster PostgreSQL image ($(CATALOG_IMAGE)) of the job's catalog from Debian's packages on the base image
	eval "$$(images/docker-up.sh)" && hack/airgap/base-image.sh '$(BASE_IMAGE)' && \
	  hack/airgap/catalog-image.sh '$(CATALOG_IMAGE)' '$(BASE_IMAGE)' '$(CATALOG_POSTGRES_MAJOR)'

.PHONY: netpol-image
netpol-image: ## Build the kind run's NetworkPolicy engine ($(NETPOL_IMAGE)): kube-router from its Go module, Debian's iptables
	eval "$$(images/docker-up.sh)" && hack/airgap/base-image.sh '$(BASE_IMAGE)' && \
	  hack/airgap/netpol-image.sh '$(NETPOL_IMAGE)' '$(BASE_IMAGE)' '$(KUBE_ROUTER_VERSION)' '$(KUBE_ROUTER_GO_UPGRADES)'

.PHONY: kind-load
kind-load: image operator-image minio-image catalog-image netpol-image $(BIN)/kubectl ## Load the app, operator, MinIO, PostgreSQL and policy engine images into the kind cluster; start the engine
	eval "$$(images/docker-up.sh)" && $(KIND_ENV) nice -n 19 hack/kind/cluster.sh load '$(KIND_CLUSTER)' \
	  '$(IMAGE)' '$(OPERATOR_IMAGE)' '$(MINIO_IMAGE)' '$(CATALOG_IMAGE)' '$(NETPOL_IMAGE)' && \
	  $(KIND_ENV) hack/kind/cluster.sh netpol '$(KIND_KUBECONFIG)' '$(NETPOL_IMAGE)'

.PHONY: e2e
e2e: install tools chart-deps ## Tier 5: kind cluster, operator + chart, SparkApplication on MinIO, dynamic allocation; then delete the cluster
	@start=$$(date +%s); rc=0; \
	eval "$$(images/docker-up.sh)" && \
	  hack/need-disk.sh $(E2E_DISK_GIB) 'make e2e (images loaded into the kind node)' \
	    "$$(docker info -f '{{.DockerRootDir}}')" "$${TMPDIR:-/tmp}" && \
	$(MAKE) --no-print-directory kind-up kind-load && \
	  eval "$$(images/docker-up.sh)" && \
	  FRUITS_E2E=1 KUBECONFIG='$(KIND_KUBECONFIG)' FRUITS_E2E_CLUSTER='$(KIND_CLUSTER)' \
	  FRUITS_E2E_SUMMARY='$(KIND_CACHE)/e2e-summary.json' \
	  $(VENV_PY) -m pytest tests/e2e -m e2e -p no:cacheprovider $(E2E_ARGS) || rc=$$?; \
	if [[ -z "$(KEEP_CLUSTER)" ]]; then $(MAKE) --no-print-directory kind-down || rc=$${rc/#0/1}; fi; \
	echo ">> make e2e: exit $$rc after $$(( $$(date +%s) - start )) s"; exit $$rc
