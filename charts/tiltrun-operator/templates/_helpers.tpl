{{/* The release's objects are named after it: tiltrun-operator for a release of that name. */}}
{{- define "tiltrun-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tiltrun-operator.serviceAccountName" -}}
{{- default (include "tiltrun-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The pod's selector: the label deploy/ uses, plus the release. */}}
{{- define "tiltrun-operator.selectorLabels" -}}
app.kubernetes.io/name: tiltrun-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tiltrun-operator.labels" -}}
{{ include "tiltrun-operator.selectorLabels" . }}
app.kubernetes.io/part-of: tiltrun-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
The RBAC rules: exactly deploy/base/clusterrole.yaml's (what the operator uses, checked
against the audit log), then list and watch on each extra kind of .Values.watch.
*/}}
{{- define "tiltrun-operator.rules" -}}
- apiGroups: [tilt.dev]
  resources: [tiltruns]
  verbs: [list, watch]
- apiGroups: [tilt.dev]
  resources: [tiltruns/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets, replicasets]
  verbs: [list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  # create, then patch the count of the same Event (aggregation, docs/operations.md)
  verbs: [create, patch]
{{- $label := "[a-z0-9]([-a-z0-9]*[a-z0-9])?" }}
{{- $pattern := printf "^(%s(\\.%s)*/)?%s/%s$" $label $label $label $label }}
{{- range .Values.watch }}
{{- if not (regexMatch $pattern .) }}
{{- fail (printf "watch: %q is not GROUP/VERSION/RESOURCE, such as cert-manager.io/v1/certificates (v1/persistentvolumeclaims for the core group; RESOURCE is the plural kubectl api-resources lists)" .) }}
{{- end }}
{{- $parts := splitList "/" . }}
- apiGroups: [{{ if eq (len $parts) 3 }}{{ first $parts | quote }}{{ else }}""{{ end }}]
  resources: [{{ last $parts | quote }}]
  verbs: [list, watch]
{{- end }}
{{- end -}}

{{- define "tiltrun-operator.config" -}}
healthChecks:
{{ toYaml .Values.healthChecks }}
{{- end -}}
