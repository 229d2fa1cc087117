{{/* Names and labels of the Batch API (api-*.yaml). */}}
{{- define "llmq.apiName" -}}
{{- printf "%s-api" (include "llmq.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmq.apiSelector" -}}
app.kubernetes.io/name: {{ include "llmq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{/* The directory of a file:// store, or nothing. */}}
{{- define "llmq.apiFileDir" -}}
{{- if hasPrefix "file://" .Values.api.fileStore }}{{ trimPrefix "file://" .Values.api.fileStore }}{{ end }}
{{- end }}
