{{/*
The SparkApplication spec, shared by the one-off run and the ScheduledSparkApplication's template.
Called with (dict "root" $ "incremental" BOOL): the scheduled runs pass --incremental whatever
job.incremental says.
*/}}
{{- define "fruits-pipeline.spark.spec" -}}
{{- $incremental := .incremental }}
{{- $root := .root }}
{{- with .root }}
{{- $da := .Values.dynamicAllocation }}
type: Python
mode: cluster
sparkVersion: {{ .Values.spark.version | quote }}
pythonVersion: {{ .Values.spark.pythonVersion | quote }}
image: {{ include "fruits-pipeline.spark.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
mainApplicationFile: {{ .Values.spark.mainApplicationFile | quote }}
arguments:
  {{- include "fruits-pipeline.spark.arguments" (dict "root" . "incremental" $incremental) | nindent 2 }}
sparkConf:
  {{- include "fruits-pipeline.spark.conf" (dict "root" . "dynamicAllocation" $da) | nindent 2 }}
hadoopConf:
  {{- include "fruits-pipeline.s3.hadoopConf" . | nindent 2 }}
dynamicAllocation:
  enabled: {{ $da.enabled }}
  initialExecutors: {{ int $da.initialExecutors }}
  minExecutors: {{ int $da.minExecutors }}
  maxExecutors: {{ int $da.maxExecutors }}
  shuffleTrackingEnabled: {{ $da.enabled }}
  shuffleTrackingTimeout: {{ mul (int $da.shuffleTrackingTimeoutSeconds) 1000 }}
restartPolicy:
  type: OnFailure
  onFailureRetries: {{ int .Values.spark.restartPolicy.onFailureRetries }}
  onFailureRetryInterval: {{ int .Values.spark.restartPolicy.onFailureRetryInterval }}
  onSubmissionFailureRetries: {{ int .Values.spark.restartPolicy.onSubmissionFailureRetries }}
  onSubmissionFailureRetryInterval: {{ int .Values.spark.restartPolicy.onSubmissionFailureRetryInterval }}
timeToLiveSeconds: {{ int .Values.spark.timeToLiveSeconds }}
{{- with .Values.batchScheduler }}
{{- if ne .name "none" }}
batchScheduler: {{ .name }}
{{- if or .queue $root.Values.priorityClassName }}
batchSchedulerOptions:
  {{- with .queue }}
  queue: {{ . | quote }}
  {{- end }}
  {{- with $root.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.writableDirs }}
# The operator's webhook adds each to the pods whose role mounts it.
volumes:
  {{- range $name, $_ := . }}
  - name: {{ printf "writable-%s" $name }}
    emptyDir: {}
  {{- end }}
{{- end }}
driver:
  {{- include "fruits-pipeline.spark.resources" .Values.driver | nindent 2 }}
  {{- include "fruits-pipeline.spark.pod" (dict "root" . "role" "driver") | trim | nindent 2 }}
  labels:
    {{- include "fruits-pipeline.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: driver
    {{- with .Values.driver.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := deepCopy .Values.driver.annotations }}
  {{- if .Values.metrics.enabled }}
  {{- $_ := set $annotations "prometheus.io/scrape" "true" }}
  {{- $_ := set $annotations "prometheus.io/port" (toString (int .Values.metrics.port)) }}
  {{- $_ := set $annotations "prometheus.io/path" "/metrics/prometheus" }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
executor:
  {{- include "fruits-pipeline.spark.resources" .Values.executor | nindent 2 }}
  {{- include "fruits-pipeline.spark.pod" (dict "root" . "role" "executor") | trim | nindent 2 }}
  terminationGracePeriodSeconds: {{ int .Values.executor.terminationGracePeriodSeconds }}
  # The start count; dynamic allocation then moves it between min and max.
  instances: {{ int $da.initialExecutors }}
  deleteOnTermination: {{ .Values.executor.deleteOnTermination }}
  labels:
    {{- include "fruits-pipeline.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: executor
    {{- with .Values.executor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.executor.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
