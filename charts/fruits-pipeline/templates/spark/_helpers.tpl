{{/* The SparkApplication: name, job arguments, Spark properties, checks across values. */}}

{{- define "fruits-pipeline.spark.name" -}}
{{- include "fruits-pipeline.fullname" . }}
{{- end }}

{{/*
"true" when the one-off SparkApplication is rendered, else empty: job.runOnce `auto` renders it
only without a schedule. Operator 2.5.2 runs a SparkApplication again whenever its spec changes, so
next to a schedule a `helm upgrade` would start a second run beside the scheduled one.
*/}}
{{- define "fruits-pipeline.spark.runOnce" -}}
{{- $once := .Values.job.runOnce }}
{{- if eq (toString $once) "auto" }}
{{- ternary "" "true" .Values.schedule.enabled }}
{{- else if $once }}
{{- "true" }}
{{- end }}
{{- end }}

{{/* The job image: repository@digest when a digest is given, else repository:tag (tag: appVersion when empty). */}}
{{- define "fruits-pipeline.spark.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/*
Rules values.schema.json cannot state, since JSON Schema does not compare two values: the executor
bounds, the choice between a fixed k and a variance target for PCA, and where the job lives
relative to the bundled operator (its own namespace, one the operator watches).
*/}}
{{- define "fruits-pipeline.spark.validate" -}}
{{- $operator := index .Values "spark-operator" }}
{{- $ns := include "fruits-pipeline.namespace" . }}
{{- if $operator.enabled }}
{{- if eq $ns .Release.Namespace }}
{{- fail (printf "the bundled spark-operator must not share the job's namespace %q: install the release into the operator's own namespace (helm install -n spark-operator) and set jobNamespace to the job's" $ns) }}
{{- end }}
{{- if not (has $ns $operator.spark.jobNamespaces) }}
{{- fail (printf "spark-operator.spark.jobNamespaces (%v) must list the job's namespace %q" $operator.spark.jobNamespaces $ns) }}
{{- end }}
{{- end }}
{{- include "fruits-pipeline.spark.validateExecutors" (dict "key" "dynamicAllocation" "bounds" .Values.dynamicAllocation) }}
{{- if eq (gt (int .Values.job.pcaK) 0) (gt (float64 .Values.job.pcaVariance) 0.0) }}
{{- fail (printf "set exactly one of job.pcaK (%v) and job.pcaVariance (%v) above 0, the other to 0" .Values.job.pcaK .Values.job.pcaVariance) }}
{{- end }}
{{- include "fruits-pipeline.catalog.validate" . }}
{{- if and .Values.metrics.podMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.podMonitor.enabled needs metrics.enabled: the PodMonitor scrapes the driver's Prometheus servlet" }}
{{- end }}
{{- if and .Values.security.networkEncryption (not .Values.security.authenticate) }}
{{- fail "security.networkEncryption needs security.authenticate: Spark derives the keys from the authentication secret" }}
{{- end }}
{{- with .Values.s3.encryption }}
{{- if and .kmsKeyId (not (has .algorithm (list "SSE-KMS" "DSSE-KMS"))) }}
{{- fail (printf "s3.encryption.kmsKeyId is set but s3.encryption.algorithm is %q: a KMS key needs SSE-KMS or DSSE-KMS" .algorithm) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Executor bounds of one dynamic allocation block: min <= initial <= max. Called with
(dict "key" "dynamicAllocation"|"connect.dynamicAllocation" "bounds" BLOCK).
*/}}
{{- define "fruits-pipeline.spark.validateExecutors" -}}
{{- $k := .key }}
{{- $min := int .bounds.minExecutors }}
{{- $initial := int .bounds.initialExecutors }}
{{- $max := int .bounds.maxExecutors }}
{{- if lt $max $min }}
{{- fail (printf "%s.maxExecutors (%d) must be >= %s.minExecutors (%d)" $k $max $k $min) }}
{{- end }}
{{- if or (lt $initial $min) (gt $initial $max) }}
{{- fail (printf "%s.initialExecutors (%d) must lie between minExecutors (%d) and maxExecutors (%d)" $k $initial $min $max) }}
{{- end }}
{{- end }}

{{/* `fruits run` arguments, in the job's CLI order. Called with (dict "root" $ "incremental" BOOL). */}}
{{- define "fruits-pipeline.spark.arguments" -}}
{{- $job := .root.Values.job }}
{{- $args := list "run" "--input" $job.input "--output" $job.output "--model" $job.model "--weights" $job.weights "--precision" $job.precision }}
{{- if gt (int $job.pcaK) 0 }}
{{- $args = concat $args (list "--pca-k" (toString (int $job.pcaK))) }}
{{- else }}
{{- $args = concat $args (list "--pca-variance" (toString $job.pcaVariance)) }}
{{- end }}
{{- $args = concat $args (list "--batch-size" (toString (int $job.batchSize))) }}
{{- if gt (int $job.limit) 0 }}
{{- $args = concat $args (list "--limit" (toString (int $job.limit))) }}
{{- end }}
{{- $args = concat $args (list "--files-per-partition" (toString (int $job.filesPerPartition)) "--keep-runs" (toString (int $job.keepRuns))) }}
{{- if .incremental }}
{{- $args = append $args "--incremental" }}
{{- end }}
{{- $args = concat $args (list "--lock-wait" (toString (int $job.lockWaitSeconds))) }}
{{- with $job.resume }}
{{- $args = concat $args (list "--resume" (toString .)) }}
{{- end }}
{{- with $job.pack }}
{{- $args = concat $args (list "--pack" .) }}
{{- end }}
{{- if gt (int $job.deadlineSeconds) 0 }}
{{- $args = concat $args (list "--deadline" (toString (int $job.deadlineSeconds))) }}
{{- end }}
{{- toYaml (concat $args $job.extraArgs) }}
{{- end }}

{{/*
sparkConf: shuffle tracking for dynamic allocation (mirrors the dynamicAllocation block, whose
timeout the operator passes in milliseconds), graceful executor decommissioning with block
migration, rolling event logs, optional Prometheus servlet metrics; spark.conf from values wins.
The Parquet committer binding of spark-hadoop-cloud is not set: that module is not published for
this Spark, so the image lacks it (the job commits each run atomically itself).
Called with (dict "root" $ "dynamicAllocation" BLOCK): the job's block, or the Connect server's.
*/}}
{{- define "fruits-pipeline.spark.conf" -}}
{{- $da := .dynamicAllocation }}
{{- with .root }}
{{- $conf := dict }}
{{- /* The driver takes summaries only; a collect past this is a bug (the job's local default too). */}}
{{- $_ := set $conf "spark.driver.maxResultSize" "512m" }}
{{- if $da.enabled }}
{{- $_ := set $conf "spark.dynamicAllocation.shuffleTracking.enabled" "true" }}
{{- $_ := set $conf "spark.dynamicAllocation.shuffleTracking.timeout" (printf "%ds" (int $da.shuffleTrackingTimeoutSeconds)) }}
{{- $_ := set $conf "spark.dynamicAllocation.executorIdleTimeout" (printf "%ds" (int $da.executorIdleTimeoutSeconds)) }}
{{- $_ := set $conf "spark.dynamicAllocation.cachedExecutorIdleTimeout" (printf "%ds" (int $da.cachedExecutorIdleTimeoutSeconds)) }}
{{- end }}
{{- with .Values.decommission }}
{{- if .enabled }}
{{- $_ := set $conf "spark.decommission.enabled" "true" }}
{{- $_ := set $conf "spark.storage.decommission.enabled" "true" }}
{{- $_ := set $conf "spark.storage.decommission.shuffleBlocks.enabled" (toString .shuffleBlocks) }}
{{- $_ := set $conf "spark.storage.decommission.rddBlocks.enabled" (toString .rddBlocks) }}
{{- with .fallbackStoragePath }}
{{- $_ := set $conf "spark.storage.decommission.fallbackStorage.path" . }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.eventLog }}
{{- if .enabled }}
{{- $_ := set $conf "spark.eventLog.enabled" "true" }}
{{- $_ := set $conf "spark.eventLog.dir" .dir }}
{{- $_ := set $conf "spark.eventLog.rolling.enabled" "true" }}
{{- $_ := set $conf "spark.eventLog.rolling.maxFileSize" .maxFileSize }}
{{- end }}
{{- end }}
{{- with .Values.security }}
{{- $_ := set $conf "spark.authenticate" (toString .authenticate) }}
{{- if .networkEncryption }}
{{- $_ := set $conf "spark.network.crypto.enabled" "true" }}
{{- end }}
{{- end }}
{{- /* Spark's local dirs (shuffle, spills, migrated blocks) on an emptyDir of bounded size. */}}
{{- range $role := list "driver" "executor" }}
{{- with (index $.root.Values $role).localDirSizeLimit }}
{{- $prefix := printf "spark.kubernetes.%s.volumes.emptyDir.spark-local-dir-1" $role }}
{{- $_ := set $conf (printf "%s.mount.path" $prefix) "/var/data/spark-local-dir-1" }}
{{- $_ := set $conf (printf "%s.options.sizeLimit" $prefix) (toString .) }}
{{- end }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- $_ := set $conf "spark.ui.prometheus.enabled" "true" }}
{{- $_ := set $conf "spark.executor.processTreeMetrics.enabled" "true" }}
{{- $_ := set $conf "spark.metrics.conf.*.sink.prometheusServlet.class" "org.apache.spark.metrics.sink.PrometheusServlet" }}
{{- $_ := set $conf "spark.metrics.conf.*.sink.prometheusServlet.path" "/metrics/prometheus" }}
{{- $_ := set $conf "spark.ui.port" (toString (int .Values.metrics.port)) }}
{{- end }}
{{- toYaml (merge (deepCopy .Values.spark.conf) $conf) }}
{{- end }}
{{- end }}

{{/*
One pod role (driver or executor): its own service account, its environment (the chart's, then
the role's `env`), the restricted security contexts, the emptyDir mounts of writableDirs (the root
filesystem is read-only), and placement: the role's nodeSelector merged over the shared one, the
shared tolerations plus the role's, the role's affinity. Called with (dict "root" $ "role" "driver"|"executor").
*/}}
{{- define "fruits-pipeline.spark.pod" -}}
{{- $root := .root }}
{{- $values := index $root.Values .role }}
{{- if eq .role "driver" }}
serviceAccount: {{ include "fruits-pipeline.serviceAccountName" $root }}
{{- else }}
serviceAccount: {{ include "fruits-pipeline.executorServiceAccountName" $root }}
{{- end }}
env:
  {{- include "fruits-pipeline.spark.env" . | nindent 2 }}
{{- with $root.Values.podSecurityContext }}
podSecurityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.writableDirs }}
volumeMounts:
  {{- range $name, $path := . }}
  - name: {{ printf "writable-%s" $name }}
    mountPath: {{ $path }}
  {{- end }}
{{- end }}
{{- with merge (deepCopy ($values.nodeSelector | default dict)) $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with concat ($root.Values.tolerations | default list) ($values.tolerations | default list) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with default $root.Values.priorityClassName $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with include "fruits-pipeline.spark.ephemeralStorage" $values | fromYaml }}
# Spark's pod template (operator 2.5.2 hands it to spark-submit): what its own settings cannot say.
template:
  spec:
    containers:
      - name: {{ printf "spark-kubernetes-%s" $.role }}
        resources:
          {{- toYaml . | nindent 10 }}
{{- end }}
{{- end }}

{{/* requests/limits of ephemeral-storage of one role's values (driver or executor); empty when neither is set. */}}
{{- define "fruits-pipeline.spark.ephemeralStorage" -}}
{{- $resources := dict }}
{{- range $kind, $quantity := .ephemeralStorage }}
{{- if $quantity }}
{{- $_ := set $resources (printf "%ss" $kind) (dict "ephemeral-storage" (toString $quantity)) }}
{{- end }}
{{- end }}
{{- with $resources }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
The environment of one pod role: the chart's own variables, then the role's `env` value
(driver.env / executor.env) in name order. A name the chart sets itself is refused rather than
overridden or listed twice: each of the chart's comes from another value (the S3 Secret and region,
catalog.*, writableDirs.tmp, the executors' grace period), which is where to change it.
Called with (dict "root" $ "role" "driver"|"executor").
*/}}
{{- define "fruits-pipeline.spark.env" -}}
{{- $root := .root }}
{{- $values := index $root.Values .role }}
{{- $own := include "fruits-pipeline.spark.chartEnv" . | trim }}
{{- $own }}
{{- $taken := list }}
{{- range fromYamlArray $own }}
{{- $taken = append $taken .name }}
{{- end }}
{{- $extra := list }}
{{- range $name, $value := $values.env }}
{{- if has $name $taken }}
{{- fail (printf "%s.env.%s: the chart sets %s on the %s itself (%s), from its other values (s3.*, catalog.*, writableDirs.tmp, executor.terminationGracePeriodSeconds): change those instead of overriding it" $.role $name $name (ternary "driver" "executors" (eq $.role "driver")) (join ", " $taken)) }}
{{- end }}
{{- $extra = append $extra (dict "name" $name "value" (toString $value)) }}
{{- end }}
{{- with $extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The chart's own variables of one pod role. Called with (dict "root" $ "role" "driver"|"executor"). */}}
{{- define "fruits-pipeline.spark.chartEnv" -}}
{{- $root := .root }}
{{- $values := index $root.Values .role }}
{{- with include "fruits-pipeline.s3.env" $root }}
{{ . | trim }}
{{- end }}
# The image's HOME is on the read-only root filesystem; caches (Matplotlib, Keras) go to /tmp.
- name: HOME
  value: {{ $root.Values.writableDirs.tmp | default "/tmp" | quote }}
{{- if eq .role "driver" }}
{{- include "fruits-pipeline.s3.jobEnv" $root }}
# Names the holder of the output's lock uniquely, whatever the pod's host name (fruits.table.lock).
- name: FRUITS_POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
# Where the driver commits the tables (catalog.*); the executors never reach the catalog.
{{ include "fruits-pipeline.catalog.env" $root | trim }}
{{- end }}
{{- if and (eq .role "executor") $root.Values.decommission.enabled }}
# How long /opt/decom.sh waits for the executor to migrate its blocks: the grace period less 30 s.
- name: DECOM_TIMEOUT_S
  value: {{ max 1 (sub (int $values.terminationGracePeriodSeconds) 30) | quote }}
{{- end }}
{{- end }}

{{/* Resources of one pod role (driver or executor): cores, CPU request and limit, memory. */}}
{{- define "fruits-pipeline.spark.resources" -}}
cores: {{ int .cores }}
coreRequest: {{ .coreRequest | toString | quote }}
{{- with .coreLimit }}
coreLimit: {{ toString . | quote }}
{{- end }}
memory: {{ .memory | quote }}
memoryOverhead: {{ .memoryOverhead | quote }}
{{- end }}
