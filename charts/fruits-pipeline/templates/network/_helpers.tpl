{{/* The NetworkPolicies: who the executors, PostgreSQL and the Spark Connect server may talk to. */}}

{{/* Labels of this release's Spark pods of one role (the chart sets them on driver and executors). */}}
{{- define "fruits-pipeline.network.podSelector" -}}
{{ include "fruits-pipeline.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{/* NetworkPolicyPeers: this release's Spark pods of each role. Called with (dict "root" $ "roles" LIST). */}}
{{- define "fruits-pipeline.network.peers" -}}
{{- range .roles }}
- podSelector:
    matchLabels:
      {{- include "fruits-pipeline.network.podSelector" (dict "root" $.root "role" .) | nindent 6 }}
{{- end }}
{{- end }}

{{/* The EKS Pod Identity agent on every node (link-local, HTTP): IPv4 and IPv6. */}}
{{- define "fruits-pipeline.network.podIdentityAgent" -}}
- to:
    - ipBlock:
        cidr: 169.254.170.23/32
    - ipBlock:
        cidr: fd00:ec2::23/128
  ports:
    - protocol: TCP
      port: 80
{{- end }}

{{/*
Egress rules to S3 (driver and executors): the in-chart MinIO's pods, and `s3Cidrs` on `s3Ports`.
An all-addresses entry (0.0.0.0/0, ::/0) gets `clusterCidrs` of its family and the link-local
range (instance metadata, the Pod Identity agent) as `except`, so it never opens the API server,
the nodes or other pods; narrower entries are taken as they are (an `except` must lie inside).
*/}}
{{- define "fruits-pipeline.network.s3Egress" -}}
{{- $np := .Values.networkPolicy }}
{{- if .Values.minio.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "fruits-pipeline.minio.selectorLabels" . | nindent 10 }}
  ports:
    - protocol: TCP
      port: {{ int .Values.minio.port }}
{{- end }}
{{- if and $np.s3Cidrs $np.s3Ports }}
- to:
    {{- range $cidr := $np.s3Cidrs }}
    - ipBlock:
        cidr: {{ $cidr }}
        {{- if eq $cidr "0.0.0.0/0" }}
        except:
          {{- range $np.clusterCidrs }}
          {{- if not (contains ":" .) }}
          - {{ . }}
          {{- end }}
          {{- end }}
          - 169.254.0.0/16
        {{- else if eq $cidr "::/0" }}
        except:
          {{- range $np.clusterCidrs }}
          {{- if contains ":" . }}
          - {{ . }}
          {{- end }}
          {{- end }}
          - fe80::/10
          - fd00:ec2::/32
        {{- end }}
    {{- end }}
  ports:
    {{- range $np.s3Ports }}
    - protocol: TCP
      port: {{ int . }}
    {{- end }}
{{- end }}
{{- end }}

{{/* DNS, to any destination (CoreDNS, a node-local cache), UDP and TCP. */}}
{{- define "fruits-pipeline.network.dnsEgress" -}}
- ports:
    - protocol: UDP
      port: {{ int .Values.networkPolicy.dnsPort }}
    - protocol: TCP
      port: {{ int .Values.networkPolicy.dnsPort }}
{{- end }}
