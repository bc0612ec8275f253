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

{{/* The PGPASSWORD variable, when a password Secret is named, and
MOSAIC_STORAGE, when a Secret holds the URL. */}}
{{- define "mosaic.pgpassword" -}}
{{- with .Values.database.urlSecret.name }}
- name: MOSAIC_STORAGE
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.database.urlSecret.key }}
{{- end }}
{{- if .Values.database.passwordSecret.name }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.passwordSecret.name }}
      key: {{ .Values.database.passwordSecret.key }}
{{- end }}
{{- end -}}

{{/* The frontends' secret variables: the database's, and the object
store's credentials under the AWS SDK's standard names. */}}
{{- define "mosaic.secretEnv" -}}
{{- include "mosaic.pgpassword" . }}
{{- with .Values.tiles.credentialsSecret }}
{{- range list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.tiles.credentialsSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Whether the store is PostgreSQL ("true") or the embedded one (""). */}}
{{- define "mosaic.postgres" -}}
{{- if or .Values.database.urlSecret.name (hasPrefix "postgres://" .Values.database.url) (hasPrefix "postgresql://" .Values.database.url) -}}
true
{{- end -}}
{{- end -}}

{{/* Refusals of settings that cannot work together. */}}
{{- define "mosaic.checkStore" -}}
{{- if not (include "mosaic.postgres" .) }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount %d with the embedded store (database.url %q): several frontends need PostgreSQL (database.url postgres://... or database.urlSecret)" (int .Values.replicaCount) .Values.database.url) }}
{{- end }}
{{- if .Values.tiles.url }}
{{- fail "tiles.url needs PostgreSQL (database.url postgres://... or database.urlSecret): it coordinates the frontends writing to the bucket" }}
{{- end }}
{{- end }}
{{- if and .Values.tiles.publicURL (not .Values.tiles.url) }}
{{- fail "tiles.publicURL needs tiles.url: it is where the bucket's objects are served" }}
{{- end }}
{{- if and .Values.tiles.credentialsSecret (not .Values.tiles.url) }}
{{- fail "tiles.credentialsSecret needs tiles.url" }}
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
