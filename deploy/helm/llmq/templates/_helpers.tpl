{{/* Names and labels. */}}
{{- define "llmq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmq.fullname" -}}
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

{{- define "llmq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "llmq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "llmq.workerSelector" -}}
app.kubernetes.io/name: {{ include "llmq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "llmq.dashboardSelector" -}}
app.kubernetes.io/name: {{ include "llmq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: dashboard
{{- end }}

{{- define "llmq.workerName" -}}
{{- printf "%s-worker" (include "llmq.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmq.dashboardName" -}}
{{- printf "%s-dashboard" (include "llmq.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmq.secretName" -}}
{{- default (include "llmq.fullname" .) .Values.secret.name }}
{{- end }}

{{- define "llmq.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* WORKER_QUEUES from worker.queues: name=weight, sorted by name. */}}
{{- define "llmq.queues" -}}
{{- $q := list }}
{{- range $name, $weight := .Values.worker.queues }}
{{- $q = append $q (printf "%s=%d" $name (int $weight)) }}
{{- end }}
{{- join "," $q }}
{{- end }}

{{/* Security context of every llmq container: non-root, read-only root
filesystem, no privilege escalation, no capabilities. */}}
{{- define "llmq.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "llmq.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Redis connection variables shared by the worker and the dashboard. */}}
{{- define "llmq.redisEnv" -}}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- if .Values.redis.passwordSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.passwordSecret }}
      key: {{ .Values.redis.passwordKey }}
{{- end }}
{{- end }}

{{/*
KEDA trigger type and metadata for redis.url (or keda.redisAddress):
redis and rediss URLs give the redis scaler, redis-sentinel URLs the
redis-sentinel scaler and redis-cluster URLs the redis-cluster scaler.
*/}}
{{- define "llmq.kedaScheme" -}}
{{- regexFind "^[a-z+-]+" .Values.redis.url | replace "+" "-" }}
{{- end }}

{{- define "llmq.kedaTriggerType" -}}
{{- $scheme := include "llmq.kedaScheme" . }}
{{- if eq $scheme "redis-sentinel" }}redis-sentinel
{{- else if eq $scheme "redis-cluster" }}redis-cluster
{{- else if or (eq $scheme "redis") (eq $scheme "rediss") }}redis
{{- else }}{{ fail (printf "keda.enabled: redis.url scheme %q has no KEDA scaler (want redis, rediss, redis-sentinel or redis-cluster)" $scheme) }}
{{- end }}
{{- end }}

{{/* The URL's hosts, with default ports, comma-separated. */}}
{{- define "llmq.kedaAddresses" -}}
{{- if .Values.keda.redisAddress }}
{{- .Values.keda.redisAddress }}
{{- else }}
{{- $scheme := include "llmq.kedaScheme" . }}
{{- $rest := regexReplaceAll "^[a-z+-]+://" .Values.redis.url "" }}
{{- $authority := regexReplaceAll "[/?#].*$" $rest "" }}
{{- $hosts := regexReplaceAll "^.*@" $authority "" }}
{{- $port := ternary "26379" "6379" (eq $scheme "redis-sentinel") }}
{{- $out := list }}
{{- range splitList "," $hosts }}
{{- $h := trim . }}
{{- if not (regexMatch ":[0-9]+$" $h) }}{{ $h = printf "%s:%s" $h $port }}{{ end }}
{{- $out = append $out $h }}
{{- end }}
{{- join "," $out }}
{{- end }}
{{- end }}

{{- define "llmq.kedaDB" -}}
{{- $path := regexFind "/[0-9]+([?#].*)?$" (regexReplaceAll "^[a-z+-]+://" .Values.redis.url "") }}
{{- default "0" (regexFind "[0-9]+" $path) }}
{{- end }}

{{- define "llmq.kedaMaster" -}}
{{- regexReplaceAll "^[?&]master=" (regexFind "[?&]master=[^&#]+" .Values.redis.url) "" }}
{{- end }}
