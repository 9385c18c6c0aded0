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
