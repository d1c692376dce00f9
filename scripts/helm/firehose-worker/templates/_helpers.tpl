{{/* The release's name for the chart's objects, at most 63 characters. */}}
{{- define "firehose-worker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "firehose-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firehose-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firehose-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "firehose-worker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "firehose-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "firehose-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "firehose-worker.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The worker's config.yaml: .Values.config with the three keys the chart owns.
Giving one of them in .Values.config is an error rather than a silent
override, since each is tied to another object (probes, grace period,
memory limit).
*/}}
{{- define "firehose-worker.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if hasKey $cfg "shutdown_timeout" -}}
{{- fail "config.shutdown_timeout is set by the chart: use shutdownTimeoutSeconds, which also sizes terminationGracePeriodSeconds" -}}
{{- end -}}
{{- $http := default dict $cfg.http -}}
{{- if hasKey $http "address" -}}
{{- fail "config.http.address is set by the chart: use httpPort, which the probes and the Service use too" -}}
{{- end -}}
{{- $mem := default dict $cfg.memory -}}
{{- if and (hasKey $mem "soft_limit") (ne (toString $mem.soft_limit) "0") -}}
{{- fail "config.memory.soft_limit is set by the chart to 0 (90% of resources.limits.memory, from the cgroup): size resources.limits.memory instead" -}}
{{- end -}}
{{- $_ := set $http "address" (printf "0.0.0.0:%d" (int .Values.httpPort)) -}}
{{- $_ := set $cfg "http" $http -}}
{{- $_ := set $mem "soft_limit" 0 -}}
{{- $_ := set $cfg "memory" $mem -}}
{{- $_ := set $cfg "shutdown_timeout" (printf "%ds" (int .Values.shutdownTimeoutSeconds)) -}}
{{- toYaml $cfg -}}
{{- end -}}
