# Kubernetes packaging: pinned tools, the Helm chart's offline dependency, generated manifests.
# Included by the main Makefile (versions.env is already loaded and exported there).

##@ Kubernetes packaging

CHART_DIR        := charts/fruits-pipeline
OPERATOR_MODULE  := github.com/kubeflow/spark-operator/v2
OPERATOR_CHART   := $(CHART_DIR)/charts/spark-operator-$(SPARK_OPERATOR_VERSION:v%=%).tgz
TOOL_STAMPS      := $(BIN)/.stamps
K8S_MINOR        := $(word 2,$(subst ., ,$(KUBERNETES_VERSION)))
KUBECTL_LDFLAGS  := -X k8s.io/component-base/version.gitVersion=$(KUBERNETES_VERSION) \
                    -X k8s.io/component-base/version.gitMajor=1 \
                    -X k8s.io/component-base/version.gitMinor=$(K8S_MINOR) \
                    -X k8s.io/client-go/pkg/version.gitVersion=$(KUBERNETES_VERSION)
# What the release Makefile of helm stamps in: its version, and the Kubernetes version that
# `helm template` and `helm lint` assume (else v1.20, too old for the chart's kubeVersion).
HELM_LDFLAGS     := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
                    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
                    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(K8S_MINOR) \
                    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
                    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(K8S_MINOR)

# Tier 4 of `make test` needs helm, kubeconform and the operator chart (kind and kubectl are for e2e).
test: chart-tools chart-deps

.PHONY: tools
tools: chart-tools $(BIN)/kind $(BIN)/kubectl minio ## Build pinned helm, kubeconform, kind, kubectl (and MinIO) into bin/

.PHONY: chart-tools
chart-tools: $(BIN)/helm $(BIN)/kubeconform ## Build only what the chart tests need: helm and kubeconform

# $(call go-tool,NAME,VERSION,COMMAND): bin/NAME is rebuilt when missing or when its pin changes
# (each pin has its own empty stamp file, newer than the binary once the pin moves).
define go-tool
$(BIN)/$(1): $(TOOL_STAMPS)/$(1)-$(2) $(4)
	@echo ">> installing $(1) $(2) into bin/"
	$(3)
	@touch $$@
endef

$(TOOL_STAMPS)/%:
	@mkdir -p $(@D) && touch $@

$(eval $(call go-tool,helm,$(HELM_VERSION),GOBIN=$(BIN) go install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)))
$(eval $(call go-tool,kubeconform,$(KUBECONFORM_VERSION),GOBIN=$(BIN) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)))
$(eval $(call go-tool,kind,$(KIND_VERSION),GOBIN=$(BIN) go install sigs.k8s.io/kind@$(KIND_VERSION)))
# kubectl's main package is in k8s.io/kubernetes, which cannot be installed by version (replace
# directives), so hack/kubectl is a tiny module over the published k8s.io/kubectl library.
$(eval $(call go-tool,kubectl,$(KUBERNETES_VERSION),cd hack/kubectl && GOBIN=$(BIN) go install -ldflags '$(KUBECTL_LDFLAGS)' .,hack/kubectl/go.mod hack/kubectl/main.go))

.PHONY: chart-deps
chart-deps: $(OPERATOR_CHART) ## Package the spark-operator chart from its Go module into the chart's ignored charts/
	@echo ">> Go module cache: Kubernetes API and skaffold schemas the chart tests read (first time: ~70 MB)"
	@hack/go-module-dir.sh k8s.io/kubernetes@$(KUBERNETES_VERSION) >/dev/null
	@hack/go-module-dir.sh github.com/GoogleContainerTools/skaffold/v2@$(SKAFFOLD_VERSION) >/dev/null

$(OPERATOR_CHART): | $(BIN)/helm
	hack/operator-chart.sh $(OPERATOR_MODULE)@$(SPARK_OPERATOR_VERSION) $(CHART_DIR)/charts

.PHONY: manifests
manifests: chart-tools chart-deps ## Regenerate manifests/ from the chart (values-kind.yaml, operator left out)
	hack/gen-manifests.sh manifests

.PHONY: lint-chart
lint-chart: chart-tools chart-deps ## helm lint the chart with each values file
	@for f in $(CHART_DIR)/values-kind.yaml $(CHART_DIR)/values-eks.yaml $(CHART_DIR)/ci/*-values.yaml; do \
		echo ">> helm lint --strict -f $$f"; \
		$(BIN)/helm lint --strict $(CHART_DIR) -f $$f || exit 1; \
	done

.PHONY: test-chart
test-chart: install chart-tools chart-deps ## Tier 4 only: chart lint, render, kubeconform, schema rules, manifests drift
	$(VENV_PY) -m pytest tests/chart $(PYTEST_ARGS)

.PHONY: chart-docs
chart-docs: install ## Regenerate the values table of the chart README from values.yaml
	$(VENV_PY) hack/values_table.py $(CHART_DIR)
