{{/* Names and labels shared by every object. */}}
{{- define "mosaic.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mosaic.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mosaic.labels" -}}
{{ include "mosaic.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mosaic.image" -}}
{{ printf "%s:%s" .Values.image.repository (toString .Values.image.tag) }}
{{- end -}}

{{- define "mosaic.signingKeySecret" -}}
{{- if .Values.signingKey.pem -}}
{{ include "mosaic.fullname" . }}-signing-key
{{- else if .Values.signingKey.existingSecret -}}
{{ .Values.signingKey.existingSecret }}
{{- else -}}
{{ fail "set signingKey.existingSecret (a Secret holding signing-key.pem) or signingKey.pem" }}
{{- end -}}
{{- end -}}

{{/* The PGPASSWORD variable, when a password Secret is named. */}}
{{- define "mosaic.pgpassword" -}}
{{- if .Values.database.passwordSecret.name }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.passwordSecret.name }}
      key: {{ .Values.database.passwordSecret.key }}
{{- end }}
{{- end -}}

{{/* The container security context: non-root, read-only, nothing extra. */}}
{{- define "mosaic.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
{{- end -}}
