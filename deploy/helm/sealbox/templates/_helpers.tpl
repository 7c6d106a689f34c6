{{/* The image every container runs: the server, the keeper and their stage-keys init containers. */}}
{{- define "sealbox.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* What selects a component's pods (never changes between releases: selectors are immutable). */}}
{{- define "sealbox.selector" -}}
app.kubernetes.io/name: sealbox
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* Labels on every object: those of deploy/kustomize/base, and Helm's own. */}}
{{- define "sealbox.common" -}}
app.kubernetes.io/part-of: sealbox
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* sealbox's containers: no privilege, nothing written outside their volumes. */}}
{{- define "sealbox.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{- define "sealbox.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}
