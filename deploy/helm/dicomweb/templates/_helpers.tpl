{{/* The release's full name: "<release>" when it already says dicomweb, else "<release>-dicomweb". */}}
{{- define "dicomweb.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dicomweb.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component; call with (list $ "stow"). */}}
{{- define "dicomweb.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "dicomweb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "dicomweb.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "dicomweb.fullname" .)) -}}
{{- end -}}

{{/* The generated routes (files/routes.yaml). */}}
{{- define "dicomweb.routes" -}}
{{- .Files.Get "files/routes.yaml" -}}
{{- end -}}

{{- define "dicomweb.envFrom" -}}
- configMapRef:
    name: {{ include "dicomweb.fullname" . }}-config
- secretRef:
    name: {{ include "dicomweb.secretName" . }}
{{- end -}}

{{- define "dicomweb.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
