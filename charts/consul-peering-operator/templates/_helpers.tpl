{{/* Chart name, overridable. */}}
{{- define "cpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name plus chart name, without repeating the chart name when the release already has it. */}}
{{- define "cpo.fullname" -}}
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

{{- define "cpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change for a release: the Deployment selector and the Service selector. */}}
{{- define "cpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cpo.labels" -}}
helm.sh/chart: {{ include "cpo.chart" . }}
{{ include "cpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: consul-peering-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cpo.serviceAccountName" -}}
{{- default (include "cpo.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Leader election is needed as soon as two pods could reconcile at once. */}}
{{- define "cpo.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{- define "cpo.leaseName" -}}
{{- default (include "cpo.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The Consul address handed to the operator: with TLS on, an address without a scheme gets https://. */}}
{{- define "cpo.consulAddress" -}}
{{- $addr := required "consul.address is required" .Values.consul.address }}
{{- if .Values.consul.tls.enabled }}
{{- if hasPrefix "http://" $addr }}
{{- fail "consul.tls.enabled is true but consul.address starts with http://" }}
{{- end }}
{{- if hasPrefix "https://" $addr }}{{ $addr }}{{ else }}https://{{ $addr }}{{ end }}
{{- else }}
{{- if hasPrefix "https://" $addr }}
{{- fail "consul.address starts with https://: set consul.tls.enabled=true (and the CA Secret) as well" }}
{{- end }}
{{- $addr }}
{{- end }}
{{- end }}

{{- define "cpo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the mounted Consul credentials live in the container. */}}
{{- define "cpo.aclTokenDir" -}}/etc/consul-peering-operator/acl{{- end }}
{{- define "cpo.caDir" -}}/etc/consul-peering-operator/tls/ca{{- end }}
{{- define "cpo.clientCertDir" -}}/etc/consul-peering-operator/tls/client{{- end }}

{{/* An IntOrString value: numbers bare, percentages quoted. */}}
{{- define "cpo.intOrPercent" -}}
{{- if kindIs "string" . }}{{ . | quote }}{{ else }}{{ int64 . }}{{ end }}
{{- end }}
