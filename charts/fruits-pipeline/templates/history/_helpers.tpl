{{/* The Spark History Server: the job image serving the event logs of eventLog.dir. */}}

{{- define "fruits-pipeline.history.name" -}}
{{- printf "%s-history" (include "fruits-pipeline.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fruits-pipeline.history.selectorLabels" -}}
{{ include "fruits-pipeline.selectorLabels" . }}
app.kubernetes.io/component: history-server
{{- end }}

{{/*
SPARK_HISTORY_OPTS: where the logs are, the cleaner, and the chart's S3A settings as
spark.hadoop.* properties (what the SparkApplication passes as hadoopConf).
*/}}
{{- define "fruits-pipeline.history.opts" -}}
{{- $opts := list (printf "-Dspark.history.fs.logDirectory=%s" .Values.eventLog.dir) (printf "-Dspark.history.ui.port=%d" (int .Values.historyServer.port)) }}
{{- with .Values.historyServer.cleanerMaxAge }}
{{- $opts = concat $opts (list "-Dspark.history.fs.cleaner.enabled=true" (printf "-Dspark.history.fs.cleaner.maxAge=%s" .)) }}
{{- end }}
{{- range $key, $value := fromYaml (include "fruits-pipeline.s3.hadoopConf" .) }}
{{- $opts = append $opts (printf "-Dspark.hadoop.%s=%v" $key $value) }}
{{- end }}
{{- join " " $opts }}
{{- end }}
