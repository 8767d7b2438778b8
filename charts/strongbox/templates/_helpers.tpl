{{/* Names. */}}
{{- define "strongbox.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "strongbox.labels" -}}
app.kubernetes.io/name: strongbox
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "strongbox.selectorLabels" -}}
app.kubernetes.io/name: strongbox
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "strongbox.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "strongbox.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "strongbox.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "strongbox.tlsSecretPrefix" -}}
{{- default (printf "%s-tls" (include "strongbox.fullname" .)) .Values.tls.secretPrefix -}}
{{- end -}}

{{/* The stable DNS name of pod n: <fullname>-<n>.<fullname>-internal.<namespace>.svc */}}
{{- define "strongbox.podHost" -}}
{{- $root := index . 0 -}}{{- $n := index . 1 -}}
{{- $full := include "strongbox.fullname" $root -}}
{{- printf "%s-%d.%s-internal.%s.svc" $full (int $n) $full $root.Release.Namespace -}}
{{- end -}}

{{/* Every member's API address, one per line (the bootstrap Job's --node list). */}}
{{- define "strongbox.apiAddrs" -}}
{{- range $n := until (int .Values.server.replicas) }}
- {{ printf "https://%s:%d" (include "strongbox.podHost" (list $ (int $n))) (int $.Values.server.apiPort) | quote }}
{{- end }}
{{- end -}}

{{- define "strongbox.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.server.uid }}
runAsGroup: {{ .Values.server.gid }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "strongbox.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.server.uid }}
runAsGroup: {{ .Values.server.gid }}
fsGroup: {{ .Values.server.gid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Whether the server container reads its own service-account token (TokenReview). */}}
{{- define "strongbox.serverReviewsTokens" -}}
{{- if and .Values.authMethods.kubernetes.enabled .Values.authMethods.kubernetes.kubernetesHost -}}
true
{{- end -}}
{{- end -}}

{{/* authMethods.kubernetes as strongbox.ops.configure's state file (JSON). */}}
{{- define "strongbox.kubernetesAuthState" -}}
{{- $k := .Values.authMethods.kubernetes -}}
{{- $roles := dict -}}
{{- range $k.roles -}}
{{- $role := dict "bound_service_account_names" .boundServiceAccountNames "bound_service_account_namespaces" .boundServiceAccountNamespaces "token_policies" (default list .policies) "audience" (default "" .audience) -}}
{{- with .ttl }}{{ $_ := set $role "token_ttl" . }}{{ end -}}
{{- with .maxTtl }}{{ $_ := set $role "token_max_ttl" . }}{{ end -}}
{{- $_ := set $roles .name $role -}}
{{- end -}}
{{- $config := dict "kubernetes_host" (trimSuffix "/" $k.kubernetesHost) "issuer" $k.issuer "pem_keys" $k.pemKeys "disable_iss_validation" $k.disableIssValidation -}}
{{- dict "path" $k.path "config" $config "policies" $k.policies "roles" $roles | toJson -}}
{{- end -}}
