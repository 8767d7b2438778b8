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

{{/* The seals (docs/kubernetes.md "Auto-unseal"): `seal` renders [seal], `previousSeal`
(only while migrating away from an auto-unseal seal) renders [previous_seal]; each one's
Secrets are mounted read-only under its own directory. Each helper below takes one of
these contexts. */}}
{{- define "strongbox.sealContexts" -}}
{{- $seal := dict "s" .Values.seal "values" "seal" "table" "seal" "volume" "seal" "dir" "/etc/strongbox/seal" -}}
{{- $previous := dict "s" (.Values.previousSeal | default dict) "values" "previousSeal" "table" "previous_seal" "volume" "previous-seal" "dir" "/etc/strongbox/previous-seal" -}}
{{- list $seal $previous | toJson -}}
{{- end -}}

{{/* Whether a value is set: not null/absent, and not "". */}}
{{- define "strongbox.isSet" -}}
{{- if not (or (kindIs "invalid" .) (eq (toString .) "")) -}}true{{- end -}}
{{- end -}}

{{/* The seal type of a context: "" when there is none (shamir, or no previous seal). */}}
{{- define "strongbox.sealType" -}}
{{- $t := .s.type | default "" -}}
{{- if ne $t "shamir" }}{{ $t }}{{ end -}}
{{- end -}}

{{/* Refuse a seal configuration that cannot work, saying what to set. */}}
{{- define "strongbox.sealValidate" -}}
{{- $s := .s -}}
{{- $v := .values -}}
{{- $t := include "strongbox.sealType" . -}}
{{- if eq $t "pkcs11" -}}
{{- $p := $s.pkcs11 | default dict -}}
{{- $pin := $p.pinSecret | default dict -}}
{{- if not $p.library -}}
{{- fail (printf "%s.type=pkcs11 needs %s.pkcs11.library: the PKCS#11 library's path inside the container (mount it with server.extraVolumes and server.extraVolumeMounts)" $v $v) -}}
{{- end -}}
{{- if not $p.keyLabel -}}
{{- fail (printf "%s.type=pkcs11 needs %s.pkcs11.keyLabel: the label of the wrapping key in the HSM" $v $v) -}}
{{- end -}}
{{- if and (not $p.tokenLabel) (not (include "strongbox.isSet" $p.slot)) -}}
{{- fail (printf "%s.type=pkcs11 needs %s.pkcs11.tokenLabel or %s.pkcs11.slot: which HSM token holds the key" $v $v $v) -}}
{{- end -}}
{{- if and $p.tokenLabel (include "strongbox.isSet" $p.slot) -}}
{{- fail (printf "%s.pkcs11: set tokenLabel or slot, not both" $v) -}}
{{- end -}}
{{- if not $pin.name -}}
{{- fail (printf "%s.type=pkcs11 needs %s.pkcs11.pinSecret.name: a Secret holding the token's PIN (kubectl create secret generic strongbox-hsm-pin --from-literal=pin=...)" $v $v) -}}
{{- end -}}
{{- else if eq $t "transit" -}}
{{- $r := $s.transit | default dict -}}
{{- $token := $r.tokenSecret | default dict -}}
{{- $tls := $r.tlsSecret | default dict -}}
{{- if not $r.address -}}
{{- fail (printf "%s.type=transit needs %s.transit.address: the key manager's URL, e.g. https://vault-a.example:8200" $v $v) -}}
{{- end -}}
{{- if not $r.keyName -}}
{{- fail (printf "%s.type=transit needs %s.transit.keyName: the Transit key's name" $v $v) -}}
{{- end -}}
{{- if not $token.name -}}
{{- fail (printf "%s.type=transit needs %s.transit.tokenSecret.name: a Secret holding a token allowed encrypt/decrypt on the key (kubectl create secret generic strongbox-seal-token --from-literal=token=...)" $v $v) -}}
{{- end -}}
{{- if ne (empty $tls.certKey) (empty $tls.keyKey) -}}
{{- fail (printf "%s.transit.tlsSecret: certKey and keyKey go together (a client certificate and its key): set both or neither" $v) -}}
{{- end -}}
{{- if and $tls.certKey (not $tls.name) -}}
{{- fail (printf "%s.transit.tlsSecret.certKey/keyKey need %s.transit.tlsSecret.name: the Secret holding them" $v $v) -}}
{{- end -}}
{{- else if eq $t "static" -}}
{{- $static := $s.static | default dict -}}
{{- $key := $static.keySecret | default dict -}}
{{- if not $key.name -}}
{{- fail (printf "%s.type=static needs %s.static.keySecret.name: a Secret holding 32 random bytes as hex (kubectl create secret generic strongbox-static-seal --from-literal=key=$(openssl rand -hex 32)); dev and tests only" $v $v) -}}
{{- end -}}
{{- else if ne $t "" -}}
{{- fail (printf "%s.type must be shamir, pkcs11, transit or static, got %q" $v $t) -}}
{{- end -}}
{{- end -}}

{{/* Every seal check, and the rules between the two. */}}
{{- define "strongbox.sealsValidate" -}}
{{- range $ctx := include "strongbox.sealContexts" . | fromJsonArray -}}
{{- include "strongbox.sealValidate" $ctx -}}
{{- end -}}
{{- $prev := include "strongbox.sealType" (dict "s" (.Values.previousSeal | default dict)) -}}
{{- if and $prev (eq $prev (include "strongbox.sealType" (dict "s" .Values.seal))) -}}
{{- fail (printf "previousSeal.type and seal.type are both %s: a migration goes from one seal type to another (docs/seals.md)" $prev) -}}
{{- end -}}
{{- end -}}

{{/* A seal's TOML table (empty when there is none). Strings as JSON: valid TOML. */}}
{{- define "strongbox.sealToml" -}}
{{- $s := .s -}}
{{- $t := include "strongbox.sealType" . -}}
{{- $dir := .dir -}}
{{- if $t }}
[{{ .table }}]
type = {{ $t | toJson }}
{{- if eq $t "pkcs11" }}
{{- $p := $s.pkcs11 }}
lib = {{ $p.library | toJson }}
{{- if $p.tokenLabel }}
token_label = {{ $p.tokenLabel | toJson }}
{{- else }}
slot = {{ int $p.slot }}
{{- end }}
key_label = {{ $p.keyLabel | toJson }}
mechanism = {{ $p.mechanism | default "aes-gcm" | toJson }}
{{- with $p.rsaOaepHash }}
rsa_oaep_hash = {{ . | toJson }}
{{- end }}
generate_key = {{ $p.generateKey | default false }}
pin_file = {{ printf "%s/pin" $dir | toJson }}
{{- else if eq $t "transit" }}
{{- $r := $s.transit }}
{{- $tls := $r.tlsSecret | default dict }}
address = {{ $r.address | toJson }}
key_name = {{ $r.keyName | toJson }}
mount_path = {{ $r.mountPath | default "transit/" | toJson }}
{{- with $r.namespace }}
namespace = {{ . | toJson }}
{{- end }}
token_file = {{ printf "%s/token" $dir | toJson }}
{{- if and $tls.name (or $tls.caKey (not (hasKey $tls "caKey"))) }}
tls_ca_cert = {{ printf "%s/tls/ca.crt" $dir | toJson }}
{{- end }}
{{- if and $tls.name $tls.certKey }}
tls_client_cert = {{ printf "%s/tls/client.crt" $dir | toJson }}
tls_client_key = {{ printf "%s/tls/client.key" $dir | toJson }}
{{- end }}
{{- with $r.tlsServerName }}
tls_server_name = {{ . | toJson }}
{{- end }}
tls_skip_verify = {{ $r.tlsSkipVerify | default false }}
{{- else if eq $t "static" }}
key_file = {{ printf "%s/key" $dir | toJson }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A seal's projected-volume sources (empty when it has no Secrets). */}}
{{- define "strongbox.sealSources" -}}
{{- $s := .s -}}
{{- $t := include "strongbox.sealType" . -}}
{{- if eq $t "pkcs11" }}
- secret:
    name: {{ $s.pkcs11.pinSecret.name }}
    items:
      - {key: {{ $s.pkcs11.pinSecret.key | default "pin" | quote }}, path: pin}
{{- else if eq $t "transit" }}
{{- $r := $s.transit }}
{{- $tls := $r.tlsSecret | default dict }}
{{- $ca := ternary $tls.caKey "ca.crt" (hasKey $tls "caKey") }}
- secret:
    name: {{ $r.tokenSecret.name }}
    items:
      - {key: {{ $r.tokenSecret.key | default "token" | quote }}, path: token}
{{- if and $tls.name (or $ca $tls.certKey) }}
- secret:
    name: {{ $tls.name }}
    items:
      {{- with $ca }}
      - {key: {{ . | quote }}, path: tls/ca.crt}
      {{- end }}
      {{- if $tls.certKey }}
      - {key: {{ $tls.certKey | quote }}, path: tls/client.crt}
      - {key: {{ $tls.keyKey | quote }}, path: tls/client.key}
      {{- end }}
{{- end }}
{{- else if eq $t "static" }}
- secret:
    name: {{ $s.static.keySecret.name }}
    items:
      - {key: {{ $s.static.keySecret.key | default "key" | quote }}, path: key}
{{- end }}
{{- end -}}
