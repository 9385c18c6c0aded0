{{/*
The Spark Connect server: a `SparkConnect` of the spark-operator (sparkoperator.k8s.io/v1alpha1)
running the job's image. The operator (2.5.2) creates from it the server pod `NAME-server` (from
server.template; it runs `start-connect-server.sh` there, in client mode), a ConfigMap holding
executor.template, and the Service `NAME-server` (ports 15002 gRPC, 7078, 7079, 4040); the server
then creates its executors from that template, under dynamic allocation.
*/}}

{{/* Name of the SparkConnect: a DNS-1035 label the operator still has room to suffix "-server" to. */}}
{{- define "fruits-pipeline.connect.name" -}}
{{- printf "%s-connect" (include "fruits-pipeline.fullname" . | trunc 48 | trimSuffix "-") }}
{{- end }}

{{/* The Service the operator creates in front of the server pod, where clients connect. */}}
{{- define "fruits-pipeline.connect.serviceName" -}}
{{- printf "%s-server" (include "fruits-pipeline.connect.name" .) }}
{{- end }}

{{/* The Spark Connect gRPC port: the one the operator's Service exposes, so not a value. */}}
{{- define "fruits-pipeline.connect.port" -}}
15002
{{- end }}

{{/* A Spark memory string (768m, 2g; no unit: MiB) in MiB, rounded up. */}}
{{- define "fruits-pipeline.connect.mebibytes" -}}
{{- $number := regexFind "^[0-9]+" . }}
{{- $unit := lower (trimPrefix $number .) }}
{{- $n := int64 $number }}
{{- if eq $unit "k" }}{{ div (add $n 1023) 1024 }}
{{- else if eq $unit "g" }}{{ mul $n 1024 }}
{{- else if eq $unit "t" }}{{ mul $n 1048576 }}
{{- else }}{{ $n }}
{{- end }}
{{- end }}

{{/*
sparkConf of the server: the SparkApplication's (event logs, decommissioning, metrics,
spark.conf), its idle timeouts from connect.dynamicAllocation, and what the operator's
SparkConnect has no field for: executor CPU request and limit, memory overhead, pull policy,
deletion, the gRPC port. spark.conf from values still wins.
The operator binds the server to 0.0.0.0 and names its pod IP in spark.driver.host; Spark 4 on
Kubernetes would hand the executors the bind address instead (useDriverPodIP, right in cluster
mode, where both are the pod IP), and they would dial 0.0.0.0.
*/}}
{{- define "fruits-pipeline.connect.conf" -}}
{{- $da := merge (dict "enabled" true) (deepCopy .Values.connect.dynamicAllocation) }}
{{- $shared := include "fruits-pipeline.spark.conf" (dict "root" . "dynamicAllocation" $da) | fromYaml }}
{{- $executor := .Values.executor }}
{{- $own := dict
  "spark.connect.grpc.binding.port" (include "fruits-pipeline.connect.port" .)
  "spark.kubernetes.container.image.pullPolicy" .Values.image.pullPolicy
  "spark.kubernetes.executor.request.cores" (toString $executor.coreRequest)
  "spark.executor.memoryOverhead" $executor.memoryOverhead
  "spark.kubernetes.executor.deleteOnTermination" (toString $executor.deleteOnTermination)
  "spark.kubernetes.executor.useDriverPodIP" "false"
-}}
{{- with $executor.coreLimit }}
{{- $_ := set $own "spark.kubernetes.executor.limit.cores" (toString .) }}
{{- end }}
{{- toYaml (merge (deepCopy .Values.spark.conf) $own $shared) }}
{{- end }}

{{/*
The pod template of one role, in Kubernetes' own field names, from the same pieces as the
SparkApplication's pods (fruits-pipeline.spark.pod): the role's ServiceAccount, environment,
Pod Security `restricted` contexts, emptyDir writableDirs and placement; the role's labels and
annotations. Called with (dict "root" $ "role" "driver"|"executor" "component" LABEL
"container" NAME): the container name is the one the operator (server) or Spark (executors) fills in.
*/}}
{{- define "fruits-pipeline.connect.podTemplate" -}}
{{- $root := .root }}
{{- $values := index $root.Values .role }}
{{- $pod := include "fruits-pipeline.spark.pod" (dict "root" $root "role" .role) | fromYaml }}
{{- $container := dict "name" .container "image" (include "fruits-pipeline.spark.image" $root) "imagePullPolicy" $root.Values.image.pullPolicy "env" $pod.env }}
{{- with $pod.securityContext }}
{{- $_ := set $container "securityContext" . }}
{{- end }}
{{- with $pod.volumeMounts }}
{{- $_ := set $container "volumeMounts" . }}
{{- end }}
{{- with include "fruits-pipeline.spark.ephemeralStorage" $values | fromYaml }}
{{- $_ := set $container "resources" . }}
{{- end }}
{{- $spec := dict "serviceAccountName" $pod.serviceAccount "containers" (list $container) }}
{{- range $key := list "nodeSelector" "tolerations" "affinity" "priorityClassName" }}
{{- with index $pod $key }}
{{- $_ := set $spec $key . }}
{{- end }}
{{- end }}
{{- with $pod.podSecurityContext }}
{{- $_ := set $spec "securityContext" . }}
{{- end }}
{{- with $root.Values.image.pullSecrets }}
{{- $secrets := list }}
{{- range . }}
{{- $secrets = append $secrets (dict "name" .) }}
{{- end }}
{{- $_ := set $spec "imagePullSecrets" $secrets }}
{{- end }}
{{- with $root.Values.writableDirs }}
{{- $volumes := list }}
{{- range $name, $_ := . }}
{{- $volumes = append $volumes (dict "name" (printf "writable-%s" $name) "emptyDir" dict) }}
{{- end }}
{{- $_ := set $spec "volumes" $volumes }}
{{- end }}
{{- $labels := merge (include "fruits-pipeline.selectorLabels" $root | fromYaml) (dict "app.kubernetes.io/component" .component) }}
{{- $metadata := dict "labels" (merge $labels ($values.labels | default dict)) }}
{{- with $values.annotations }}
{{- $_ := set $metadata "annotations" . }}
{{- end }}
{{- toYaml (dict "metadata" $metadata "spec" $spec) }}
{{- end }}

{{/*
Rules values.schema.json cannot state: the executor bounds, and what reaches the server's shell.
The operator (2.5.2) joins sparkConf and hadoopConf into one `bash -c` command line, unquoted, so
a key or value with a blank or a shell character would be split or expanded there.
*/}}
{{- define "fruits-pipeline.connect.validate" -}}
{{- include "fruits-pipeline.spark.validateExecutors" (dict "key" "connect.dynamicAllocation" "bounds" .Values.connect.dynamicAllocation) }}
{{- $confs := dict
  "sparkConf" (include "fruits-pipeline.connect.conf" . | fromYaml)
  "hadoopConf" (include "fruits-pipeline.s3.hadoopConf" . | fromYaml) }}
{{- range $field, $conf := $confs }}
{{- range $key, $value := $conf }}
{{- if regexMatch "[\\s'\"$`\\\\;&|<>(){}]" (printf "%s=%v" $key $value) }}
{{- fail (printf "connect.enabled: %s %s=%v holds a blank or a shell character, which the operator's SparkConnect (2.5.2) passes to the server's shell unquoted; use another value, or leave Spark Connect off" $field $key $value) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
