{{/* S3 access, one place for both targets: endpoint, credentials, S3A Hadoop settings. */}}

{{/* Secret holding AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (kind). */}}
{{- define "fruits-pipeline.s3.secretName" -}}
{{- default (printf "%s-s3" (include "fruits-pipeline.fullname" .)) .Values.s3.credentials.secretName }}
{{- end }}

{{/* The S3 endpoint: explicit, else the in-chart MinIO, else empty (AWS S3). */}}
{{- define "fruits-pipeline.s3.endpoint" -}}
{{- if .Values.s3.endpoint }}
{{- .Values.s3.endpoint }}
{{- else if .Values.minio.enabled }}
{{- printf "http://%s.%s.svc:%d" .Values.minio.name (include "fruits-pipeline.namespace" .) (int .Values.minio.port) }}
{{- end }}
{{- end }}

{{/*
AWS SDK v2 credentials provider (hadoop-aws 3.4+ takes SDK v2 classes): keys from the environment
on kind; on eks the IRSA web identity, or with EKS Pod Identity the container credentials the pod
identity agent serves (AWS_CONTAINER_CREDENTIALS_FULL_URI and its token file, which the SDK's
ContainerCredentialsProvider reads since 2.21).
*/}}
{{- define "fruits-pipeline.s3.credentialsProvider" -}}
{{- if .Values.s3.credentialsProvider }}
{{- .Values.s3.credentialsProvider }}
{{- else if and (eq .Values.target "eks") (eq .Values.serviceAccount.awsIdentity "podIdentity") }}
{{- "software.amazon.awssdk.auth.credentials.ContainerCredentialsProvider" }}
{{- else if eq .Values.target "eks" }}
{{- "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider" }}
{{- else }}
{{- "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider" }}
{{- end }}
{{- end }}

{{/*
hadoopConf of the SparkApplication (the operator passes each as spark.hadoop.KEY): S3A endpoint,
addressing, credentials and retries; spark.hadoopConf from values wins. No S3A committer: Spark's
Parquet writes use one only through spark-hadoop-cloud, which is not published for this Spark, so
tables are committed by FileOutputCommitter (v1; renames are server-side copies) and the job's run
commit keeps readers from ever seeing half a run (docs/decisions.md).
*/}}
{{- define "fruits-pipeline.s3.hadoopConf" -}}
{{- $conf := dict
  "fs.s3a.impl" "org.apache.hadoop.fs.s3a.S3AFileSystem"
  "fs.s3a.endpoint.region" .Values.s3.region
  "fs.s3a.path.style.access" (toString .Values.s3.pathStyleAccess)
  "fs.s3a.aws.credentials.provider" (include "fruits-pipeline.s3.credentialsProvider" .)
  "fs.s3a.attempts.maximum" (toString (int .Values.s3.attempts))
  "fs.s3a.retry.limit" (toString (int .Values.s3.attempts))
  "fs.s3a.retry.throttle.limit" (toString (int .Values.s3.throttleAttempts))
-}}
{{- if .Values.s3.requesterPays }}
{{- $_ := set $conf "fs.s3a.requester.pays.enabled" "true" }}
{{- end }}
{{- with .Values.s3.encryption }}
{{- with .algorithm }}
{{- $_ := set $conf "fs.s3a.encryption.algorithm" . }}
{{- end }}
{{- with .kmsKeyId }}
{{- $_ := set $conf "fs.s3a.encryption.key" . }}
{{- end }}
{{- end }}
{{- with include "fruits-pipeline.s3.endpoint" . }}
{{- $_ := set $conf "fs.s3a.endpoint" . }}
{{- $_ := set $conf "fs.s3a.connection.ssl.enabled" (toString (hasPrefix "https://" .)) }}
{{- end }}
{{- toYaml (merge (deepCopy .Values.spark.hadoopConf) $conf) }}
{{- end }}

{{/* Environment with the S3 keys from the Secret (kind); nothing on eks, where IRSA injects its own. */}}
{{- define "fruits-pipeline.s3.env" -}}
{{- if ne .Values.target "eks" }}
{{- $secret := include "fruits-pipeline.s3.secretName" . }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: AWS_SECRET_ACCESS_KEY
- name: AWS_REGION
  value: {{ .Values.s3.region | quote }}
{{- end }}
{{- end }}

{{/*
The same requester-pays and encryption settings for the job's own S3 requests (obstore: the
workers' reads, the driver's files), as the driver's FRUITS_S3_* variables; it hands them to its tasks.
*/}}
{{- define "fruits-pipeline.s3.jobEnv" -}}
{{- if .Values.s3.requesterPays }}
- name: FRUITS_S3_REQUESTER_PAYS
  value: "true"
{{- end }}
{{- with .Values.s3.encryption }}
{{- with .algorithm }}
- name: FRUITS_S3_ENCRYPTION
  value: {{ . | quote }}
{{- end }}
{{- with .kmsKeyId }}
- name: FRUITS_S3_KMS_KEY_ID
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
