{{/* The tables' catalog: what the driver is told, and the in-cluster PostgreSQL for kind. */}}

{{- define "fruits-pipeline.catalog.labels" -}}
{{ include "fruits-pipeline.labels" . }}
app.kubernetes.io/component: catalog
{{- end }}

{{- define "fruits-pipeline.catalog.selectorLabels" -}}
{{ include "fruits-pipeline.selectorLabels" . }}
app.kubernetes.io/component: catalog
{{- end }}

{{/* The in-cluster PostgreSQL's Secret: its password and the driver's URI. */}}
{{- define "fruits-pipeline.catalog.postgresSecretName" -}}
{{- printf "%s-credentials" .Values.catalog.postgres.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The Secret and key holding the driver's FRUITS_CATALOG_URI, as "NAME KEY": `existingSecret`, else
the in-cluster PostgreSQL's; empty when the URI, if any, is a plain value.
*/}}
{{- define "fruits-pipeline.catalog.uriSecret" -}}
{{- with .Values.catalog }}
{{- if .existingSecret.name }}
{{- printf "%s %s" .existingSecret.name .existingSecret.key }}
{{- else if .postgres.enabled }}
{{- printf "%s uri" (include "fruits-pipeline.catalog.postgresSecretName" $) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Rules across values that the schema cannot state: PostgreSQL is an sql catalog; a rest catalog
needs its endpoint; an S3 output needs a catalog every run reaches (the embedded SQLite file of
`sql` without a URI lives beside a local output only, and the job refuses it on S3).
*/}}
{{- define "fruits-pipeline.catalog.validate" -}}
{{- $c := .Values.catalog }}
{{- if and $c.postgres.enabled (ne $c.kind "sql") }}
{{- fail (printf "catalog.postgres.enabled runs an sql catalog, but catalog.kind is %q: set catalog.kind=sql or turn PostgreSQL off" $c.kind) }}
{{- end }}
{{- if and (eq $c.kind "rest") (not $c.uri) }}
{{- fail "catalog.kind rest needs its endpoint in catalog.uri (https://...)" }}
{{- end }}
{{- if and (eq $c.kind "sql") (not (or $c.uri $c.existingSecret.name $c.postgres.enabled)) (regexMatch "^s3a?://" .Values.job.output) }}
{{- fail (printf "job.output %s is on S3, where the job needs a catalog every run reaches: catalog.postgres.enabled (kind), catalog.existingSecret.name (a Secret with postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB), or catalog.kind glue or rest" .Values.job.output) }}
{{- end }}
{{- end }}

{{/* The driver's catalog settings (FRUITS_CATALOG*), as env entries. */}}
{{- define "fruits-pipeline.catalog.env" -}}
{{- $c := .Values.catalog }}
- name: FRUITS_CATALOG
  value: {{ $c.kind | quote }}
- name: FRUITS_CATALOG_NAMESPACE
  value: {{ $c.namespace | quote }}
{{- $secret := include "fruits-pipeline.catalog.uriSecret" . }}
{{- if $secret }}
{{- $ref := splitList " " $secret }}
- name: FRUITS_CATALOG_URI
  valueFrom:
    secretKeyRef:
      name: {{ index $ref 0 }}
      key: {{ index $ref 1 }}
{{- else if $c.uri }}
- name: FRUITS_CATALOG_URI
  value: {{ $c.uri | quote }}
{{- end }}
{{- with $c.warehouse }}
- name: FRUITS_CATALOG_WAREHOUSE
  value: {{ . | quote }}
{{- end }}
{{- end }}
