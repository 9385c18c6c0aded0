{{/* Names and labels shared by every component of the chart. */}}

{{/* The chart name, or nameOverride. */}}
{{- define "fruits-pipeline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, else the release name (alone when it already
contains the chart name), else both. Cut to 63 characters, the DNS label limit.
*/}}
{{- define "fruits-pipeline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "fruits-pipeline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "fruits-pipeline.labels" -}}
helm.sh/chart: {{ include "fruits-pipeline.chart" . }}
{{ include "fruits-pipeline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the release's objects. */}}
{{- define "fruits-pipeline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fruits-pipeline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Namespace of the job's own objects: jobNamespace, else the release namespace. With the bundled
operator the release namespace is the operator's, and the job must live elsewhere.
*/}}
{{- define "fruits-pipeline.namespace" -}}
{{- default .Release.Namespace .Values.jobNamespace }}
{{- end }}

{{/* Name of the driver's ServiceAccount (the one with the Role). */}}
{{- define "fruits-pipeline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-driver" (include "fruits-pipeline.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the executors' ServiceAccount (no RoleBinding, no API token). */}}
{{- define "fruits-pipeline.executorServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-executor" (include "fruits-pipeline.fullname" .)) .Values.serviceAccount.executorName }}
{{- else }}
{{- default "default" .Values.serviceAccount.executorName }}
{{- end }}
{{- end }}

{{/* Name of the History Server's ServiceAccount (no RoleBinding, no API token, its own read-only IAM role). */}}
{{- define "fruits-pipeline.historyServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-history" (include "fruits-pipeline.fullname" .)) .Values.serviceAccount.historyName }}
{{- else }}
{{- default "default" .Values.serviceAccount.historyName }}
{{- end }}
{{- end }}
