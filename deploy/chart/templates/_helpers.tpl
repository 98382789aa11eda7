{{/*
The name of one object: <namePrefix>-<suffix> (planton-helm-<suffix> by default, the names of
deploy/). Called with (dict "root" $ "suffix" "runner").
*/}}
{{- define "planton.name" -}}
{{- printf "%s-%s" .root.Values.namePrefix .suffix -}}
{{- end -}}

{{/* The label every object carries; the pods' selector. */}}
{{- define "planton.labels" -}}
app.kubernetes.io/name: planton-helm-controller
{{- end -}}

{{/*
A container's image, repository:tag, the tag defaulting to the chart's appVersion. Called with
(dict "image" .Values.runner.image "chart" .Chart).
*/}}
{{- define "planton.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .chart.AppVersion) -}}
{{- end -}}

{{/*
The subjects list naming one of the controller's ServiceAccounts. Called with
(dict "root" $ "suffix" "reconciler").
*/}}
{{- define "planton.subjects" -}}
subjects:
  - kind: ServiceAccount
    name: {{ include "planton.name" . }}
    namespace: {{ .root.Values.namespace.name }}
{{- end -}}
