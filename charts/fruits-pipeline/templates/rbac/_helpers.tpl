{{/* Names of the driver's Role and RoleBinding. */}}

{{- define "fruits-pipeline.rbac.roleName" -}}
{{- printf "%s-spark-driver" (include "fruits-pipeline.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
