{{/* The SparkApplication: name, job arguments, Spark properties, checks across values. */}}

{{- define "fruits-pipeline.spark.name" -}}
{{- include "fruits-pipeline.fullname" . }}
{{- end }}

{{/* The job image, repository:tag. */}}
{{- define "fruits-pipeline.spark.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) }}
{{- end }}

{{/*
Rules values.schema.json cannot state, since JSON Schema does not compare two values: the executor
bounds and the choice between a fixed k and a variance target for PCA.
*/}}
{{- define "fruits-pipeline.spark.validate" -}}
{{- $da := .Values.dynamicAllocation }}
{{- if lt (int $da.maxExecutors) (int $da.minExecutors) }}
{{- fail (printf "dynamicAllocation.maxExecutors (%d) must be >= dynamicAllocation.minExecutors (%d)" (int $da.maxExecutors) (int $da.minExecutors)) }}
{{- end }}
{{- if or (lt (int $da.initialExecutors) (int $da.minExecutors)) (gt (int $da.initialExecutors) (int $da.maxExecutors)) }}
{{- fail (printf "dynamicAllocation.initialExecutors (%d) must lie between minExecutors (%d) and maxExecutors (%d)" (int $da.initialExecutors) (int $da.minExecutors) (int $da.maxExecutors)) }}
{{- end }}
{{- if eq (gt (int .Values.job.pcaK) 0) (gt (float64 .Values.job.pcaVariance) 0.0) }}
{{- fail (printf "set exactly one of job.pcaK (%v) and job.pcaVariance (%v) above 0, the other to 0" .Values.job.pcaK .Values.job.pcaVariance) }}
{{- end }}
{{- end }}

{{/* `fruits run` arguments, in the job's CLI order. */}}
{{- define "fruits-pipeline.spark.arguments" -}}
{{- $job := .Values.job }}
{{- $args := list "run" "--input" $job.input "--output" $job.output "--weights" $job.weights }}
{{- if gt (int $job.pcaK) 0 }}
{{- $args = concat $args (list "--pca-k" (toString (int $job.pcaK))) }}
{{- else }}
{{- $args = concat $args (list "--pca-variance" (toString $job.pcaVariance)) }}
{{- end }}
{{- $args = concat $args (list "--batch-size" (toString (int $job.batchSize))) }}
{{- if gt (int $job.limit) 0 }}
{{- $args = concat $args (list "--limit" (toString (int $job.limit))) }}
{{- end }}
{{- $args = concat $args (list "--lock-wait" (toString (int $job.lockWaitSeconds))) }}
{{- toYaml (concat $args $job.extraArgs) }}
{{- end }}

{{/*
sparkConf: shuffle tracking for dynamic allocation (mirrors the dynamicAllocation block, whose
timeout the operator passes in milliseconds), graceful executor decommissioning, optional
Prometheus servlet metrics; spark.conf from values wins. The Parquet committer binding of
spark-hadoop-cloud is not set: that module is not published for this Spark, so the image lacks it
(the job commits each run atomically itself).
*/}}
{{- define "fruits-pipeline.spark.conf" -}}
{{- $da := .Values.dynamicAllocation }}
{{- $conf := dict }}
{{- if $da.enabled }}
{{- $_ := set $conf "spark.dynamicAllocation.shuffleTracking.enabled" "true" }}
{{- $_ := set $conf "spark.dynamicAllocation.shuffleTracking.timeout" (printf "%ds" (int $da.shuffleTrackingTimeoutSeconds)) }}
{{- $_ := set $conf "spark.dynamicAllocation.executorIdleTimeout" (printf "%ds" (int $da.executorIdleTimeoutSeconds)) }}
{{- $_ := set $conf "spark.decommission.enabled" "true" }}
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

{{/*
What driver and executor pods share: service account, S3 environment, security contexts and
placement. The service account goes on BOTH, so executors get the same IRSA identity on eks.
*/}}
{{- define "fruits-pipeline.spark.podCommon" -}}
serviceAccount: {{ include "fruits-pipeline.serviceAccountName" . }}
{{- with include "fruits-pipeline.s3.env" . }}
env:
  {{- . | trim | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
podSecurityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
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
