{{/* The chart's name, or nameOverride. */}}
{{- define "dicomweb.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: fullnameOverride, else "<release>" when it already says the
chart's name, else "<release>-<name>". */}}
{{- define "dicomweb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "dicomweb.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dicomweb.labels" -}}
app.kubernetes.io/name: {{ include "dicomweb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component; call with (list $ "stow"). */}}
{{- define "dicomweb.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "dicomweb.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "dicomweb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "dicomweb.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "dicomweb.fullname" .) -}}
{{- end -}}

{{/* The host the routes match: routing.host, else the host of publicBaseUrl (no port). */}}
{{- define "dicomweb.host" -}}
{{- .Values.routing.host | default (regexReplaceAll ":[0-9]+$" (urlParse .Values.publicBaseUrl).host "") -}}
{{- end -}}

{{/* The generated routes (files/routes.yaml). */}}
{{- define "dicomweb.routes" -}}
{{- .Files.Get "files/routes.yaml" -}}
{{- end -}}

{{/* Secret-held settings: name -> value given in .Values.secrets (dev placeholders with dev). */}}
{{- define "dicomweb.secretValues" -}}
{{- $s := .Values.secrets -}}
{{- $given := dict
  "DICOMWEB_POSTGRES_URL" $s.postgresUrl
  "DICOMWEB_NATS_URL" $s.natsUrl
  "DICOMWEB_STORAGE_S3_ACCESS_KEY_ID" $s.s3AccessKeyId
  "DICOMWEB_STORAGE_S3_SECRET_ACCESS_KEY" $s.s3SecretAccessKey -}}
{{- if .Values.dev -}}
{{- $given = merge (dict) (pick $given "DICOMWEB_STORAGE_S3_ACCESS_KEY_ID" "DICOMWEB_STORAGE_S3_SECRET_ACCESS_KEY") (dict
  "DICOMWEB_POSTGRES_URL" ($s.postgresUrl | default "postgresql://dicomweb:dicomweb-dev@postgres:5432/dicomweb")
  "DICOMWEB_NATS_URL" ($s.natsUrl | default "nats://dicomweb:dicomweb-nats-dev@nats:4222")) -}}
{{- end -}}
{{- $values := dict -}}
{{- range $key, $value := $given -}}
{{- if and $value (not (hasKey $s.fromSecrets $key)) -}}
{{- $_ := set $values $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $values -}}
{{- end -}}

{{/* Refuse to render without the connection settings, or with authentication half off. */}}
{{- define "dicomweb.validate" -}}
{{- $s := .Values.secrets -}}
{{- $values := include "dicomweb.secretValues" . | fromYaml -}}
{{- if not $s.existingSecret -}}
{{- range $key := list "DICOMWEB_POSTGRES_URL" "DICOMWEB_NATS_URL" -}}
{{- if not (or (hasKey $s.fromSecrets $key) (hasKey $values $key)) -}}
{{- fail (printf "%s has no value: set secrets.existingSecret, secrets.fromSecrets.%s or the secrets.* value (dev: true invents one for development)" $key $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.auth.enabled (not .Values.auth.issuer) -}}
{{- fail "auth.issuer is empty: name your OIDC issuer, or set auth.enabled=false and auth.allowUnauthenticated=true (development only)" -}}
{{- end -}}
{{- if and (not .Values.auth.enabled) (not .Values.auth.allowUnauthenticated) -}}
{{- fail "auth.enabled=false serves without authentication: also set auth.allowUnauthenticated=true (development only)" -}}
{{- end -}}
{{- end -}}

{{/* Whether the chart creates its own Secret. */}}
{{- define "dicomweb.createsSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (include "dicomweb.secretValues" . | fromYaml) -}}true{{- end -}}
{{- end -}}

{{- define "dicomweb.envFrom" -}}
- configMapRef:
    name: {{ include "dicomweb.fullname" . }}-config
{{- if .Values.secrets.existingSecret }}
- secretRef:
    name: {{ .Values.secrets.existingSecret }}
{{- else if include "dicomweb.createsSecret" . }}
- secretRef:
    name: {{ include "dicomweb.fullname" . }}-secrets
{{- end }}
{{- end -}}

{{/* Settings read from keys of other Secrets (secrets.fromSecrets). */}}
{{- define "dicomweb.secretEnv" -}}
{{- range $name, $ref := .Values.secrets.fromSecrets }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{- define "dicomweb.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Scheduling and identity shared by every pod of the chart; call with (list $ "stow"). */}}
{{- define "dicomweb.podSpec" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
serviceAccountName: {{ include "dicomweb.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if $root.Values.topologySpreadConstraints }}
  {{- toYaml $root.Values.topologySpreadConstraints | nindent 2 }}
{{- else }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    matchLabelKeys: ["pod-template-hash"]
    labelSelector:
      matchLabels:
        {{- include "dicomweb.selector" (list $root $component) | nindent 8 }}
{{- end }}
{{- end -}}

{{- define "dicomweb.podAnnotations" -}}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Annotation-based Prometheus discovery of a service pod's /metrics. */}}
{{- define "dicomweb.metricsAnnotations" -}}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: "8000"
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/*
The gateway's Traefik static configuration (generated), with tracing when tracing.otlpEndpoint
is set: Traefik's spans there, sampled as the services sample, and Traefik's standard proxy
instead of the fast one (which would not pass the gateway's span on to the services).
*/}}
{{- define "dicomweb.gatewayStatic" -}}
{{- $static := deepCopy (include "dicomweb.routes" . | fromYaml).gateway.static -}}
{{- with .Values.tracing -}}
{{- if .otlpEndpoint -}}
{{- $rate := 1.0 -}}
{{- if hasSuffix "always_off" .sampler }}{{ $rate = 0.0 }}{{ end -}}
{{- if hasSuffix "traceidratio" .sampler }}{{ $rate = .samplerArg }}{{ end -}}
{{- $endpoint := printf "%s/v1/traces" (trimSuffix "/" .otlpEndpoint) -}}
{{- $otlp := dict "http" (dict "endpoint" $endpoint) -}}
{{- $name := printf "%s-gateway" .serviceName -}}
{{- $_ := set $static "tracing" (dict "serviceName" $name "sampleRate" $rate "otlp" $otlp) -}}
{{- $_ := unset $static "experimental" -}}
{{- end -}}
{{- end -}}
{{- toYaml $static -}}
{{- end -}}

