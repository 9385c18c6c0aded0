{{/* The in-cluster MinIO for kind: a test stand-in for S3, not for production data. */}}

{{- define "fruits-pipeline.minio.labels" -}}
{{ include "fruits-pipeline.labels" . }}
app.kubernetes.io/component: minio
{{- end }}

{{- define "fruits-pipeline.minio.selectorLabels" -}}
{{ include "fruits-pipeline.selectorLabels" . }}
app.kubernetes.io/component: minio
{{- end }}

{{/* The Secret with MinIO's root user, apart from the job's keys. */}}
{{- define "fruits-pipeline.minio.rootSecretName" -}}
{{- printf "%s-root" .Values.minio.name | trunc 63 | trimSuffix "-" }}
{{- end }}
