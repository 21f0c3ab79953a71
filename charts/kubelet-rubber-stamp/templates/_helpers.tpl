{{/*
Names. With the release name `kubelet-rubber-stamp` (or fullnameOverride
`kubelet-rubber-stamp`) every object is named as in deploy/. The full name is
cut at 55 characters so that `<fullname>-metrics`, a Service name, stays a
valid 63-character DNS label.
*/}}
{{- define "kubelet-rubber-stamp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 55 | trimSuffix "-" }}
{{- end }}

{{- define "kubelet-rubber-stamp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubelet-rubber-stamp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The leader-election Lease: its name is in the flags and in the Role. */}}
{{- define "kubelet-rubber-stamp.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (include "kubelet-rubber-stamp.fullname" .) }}
{{- end }}

{{/*
Labels. deploy/ labels every object with name and part-of, and the workload
objects (Deployment, Service, PodDisruptionBudget, ServiceMonitor,
PrometheusRule) with component too; the chart adds Helm's usual labels.
*/}}
{{- define "kubelet-rubber-stamp.labels" -}}
app.kubernetes.io/name: {{ include "kubelet-rubber-stamp.name" . }}
app.kubernetes.io/part-of: kubelet-rubber-stamp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ include "kubelet-rubber-stamp.chart" . }}
{{- end }}

{{- define "kubelet-rubber-stamp.workloadLabels" -}}
{{ include "kubelet-rubber-stamp.labels" . }}
app.kubernetes.io/component: approver
{{- end }}

{{/* The Pods' identity: selectors of the Deployment, Service, PDB and ServiceMonitor. */}}
{{- define "kubelet-rubber-stamp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubelet-rubber-stamp.name" . }}
app.kubernetes.io/component: approver
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubelet-rubber-stamp.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- .Values.image.repository }}{{ with $tag }}:{{ . }}{{ end }}{{ with .Values.image.digest }}@{{ . }}{{ end }}
{{- end }}

{{/* The port the daemon listens on: 10271 with hostNetwork (8080 is often taken on hosts). */}}
{{- define "kubelet-rubber-stamp.port" -}}
{{- if .Values.hostNetwork.enabled }}{{ .Values.hostNetwork.port | int }}{{ else }}{{ .Values.port | int }}{{ end }}
{{- end }}

{{- define "kubelet-rubber-stamp.ha" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
The daemon's flag for one value, `--<flag>=<value>`, or nothing: null leaves
the daemon's default; a list is joined with commas (an empty list gives
`--flag=`, which for --allowed-cidrs means "no IP SAN"); numbers are printed
as integers (values.yaml numbers arrive as floats). Call with
(list "flag-name" value).
*/}}
{{- define "kubelet-rubber-stamp.flag" -}}
{{- $name := index . 0 }}
{{- $value := index . 1 }}
{{- if kindIs "invalid" $value }}
{{- else if kindIs "slice" $value }}
{{- printf "--%s=%s" $name (join "," $value) }}
{{- else if or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value) }}
{{- printf "--%s=%d" $name (int64 $value) }}
{{- else }}
{{- printf "--%s=%v" $name $value }}
{{- end }}
{{- end }}

{{/* The container's args: the flags of the values above, then extraArgs. */}}
{{- define "kubelet-rubber-stamp.args" -}}
{{- $args := list (printf "--listen=:%s" (include "kubelet-rubber-stamp.port" .)) }}
{{- if .Values.leaderElection.enabled }}
{{- $args = append $args "--leader-elect=true" }}
{{- $args = append $args (printf "--leader-elect-lease-name=%s" (include "kubelet-rubber-stamp.leaseName" .)) }}
{{- else }}
{{- $args = append $args "--leader-elect=false" }}
{{- end }}
{{- if .Values.dryRun }}
{{- $args = append $args "--dry-run=true" }}
{{- end }}
{{- if .Values.denyInvalid }}
{{- $args = append $args "--deny-invalid=true" }}
{{- end }}
{{- $flags := dict "log-level" .Values.logLevel "log-format" .Values.logFormat }}
{{- range $key, $value := .Values.policy }}
{{- $_ := set $flags (kebabcase $key) $value }}
{{- end }}
{{- range $name, $value := $flags }}
{{- with include "kubelet-rubber-stamp.flag" (list $name $value) }}
{{- $args = append $args . }}
{{- end }}
{{- end }}
{{- concat $args .Values.extraArgs | toYaml }}
{{- end }}
