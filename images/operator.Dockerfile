# The Kubeflow spark-operator controller on top of the app image, so the spark-submit it runs is
# the very Spark (and Java) the drivers and executors use.
#
# The context is one file, `spark-operator`, built on the host from the operator's Go module by
# hack/airgap/build-operator.sh (`make operator-image` does both steps). The chart's controller and
# webhook deployments pass `controller start ...` / `webhook start ...` as container args.
ARG APP_IMAGE=fruits-pipeline:0.1.0
FROM ${APP_IMAGE}

ARG SPARK_OPERATOR_VERSION=unknown
LABEL org.fruits.spark-operator.version=${SPARK_OPERATOR_VERSION}

COPY spark-operator /usr/bin/spark-operator

# The app image's entrypoint adds a passwd entry for unknown UIDs and runs the command under tini.
ENTRYPOINT ["/opt/entrypoint.sh", "/usr/bin/spark-operator"]
CMD ["--help"]
