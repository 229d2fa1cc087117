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

{{/* The image by digest when image.digest is set (repository@sha256:...),
else by tag. */}}
{{- define "llmq.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "llmq.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llmq.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* OpenTelemetry variables of a component (its service name as the
argument's .service): the exporter settings of otel.*, and the pod's name
and namespace as resource attributes, service.instance.id being the pod's
name. */}}
{{- define "llmq.otelEnv" -}}
{{- $v := .root.Values.otel }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- $attrs := list "service.instance.id=$(POD_NAME)" "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" }}
{{- range $k, $val := $v.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $val) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with $v.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $v.protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with $v.tracesExporter }}
- name: OTEL_TRACES_EXPORTER
  value: {{ . | quote }}
{{- end }}
{{- with $v.metricsExporter }}
- name: OTEL_METRICS_EXPORTER
  value: {{ . | quote }}
{{- end }}
{{- with $v.tracesSampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with $v.tracesSamplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- if $v.headersSecret }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ $v.headersSecret }}
      key: {{ $v.headersKey }}
{{- end }}
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

{{/* Redis connection variables shared by the worker and the dashboard.
A sentinel password from redis.sentinelPasswordSecret is put into the URL's
sentinel_password by Kubernetes' $(VAR) expansion. */}}
{{- define "llmq.redisEnv" -}}
{{- if .Values.redis.sentinelPasswordSecret }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.sentinelPasswordSecret }}
      key: {{ .Values.redis.sentinelPasswordKey }}
{{- end }}
- name: REDIS_URL
  value: {{ include "llmq.redisURL" . | quote }}
{{- if .Values.redis.passwordSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.passwordSecret }}
      key: {{ .Values.redis.passwordKey }}
{{- end }}
{{- end }}

{{/* redis.url with the sentinel's user and password parameters added. */}}
{{- define "llmq.redisURL" -}}
{{- $u := .Values.redis.url }}
{{- $params := list }}
{{- with .Values.redis.sentinelUsername }}{{ $params = append $params (printf "sentinel_username=%s" (urlquery .)) }}{{ end }}
{{- if .Values.redis.sentinelPasswordSecret }}{{ $params = append $params "sentinel_password=$(REDIS_SENTINEL_PASSWORD)" }}{{ end }}
{{- if $params }}
{{- if and (ne (include "llmq.kedaScheme" .) "redis-sentinel") }}{{ fail "redis.sentinelUsername and redis.sentinelPasswordSecret need a redis-sentinel:// redis.url" }}{{ end }}
{{- printf "%s%s%s" $u (ternary "&" "?" (contains "?" $u)) (join "&" $params) }}
{{- else }}
{{- $u }}
{{- end }}
{{- end }}

{{/* Whether KEDA connects to Redis over TLS: rediss://, or keda.redisTLS. */}}
{{- define "llmq.kedaTLS" -}}
{{- or (eq (include "llmq.kedaScheme" .) "rediss") .Values.keda.redisTLS }}
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
