{{/* Names, labels and shared pod parts of the callfabric chart. */}}

{{- define "callfabric.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "callfabric.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "callfabric.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "callfabric.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end -}}

{{/* Secret names: existing ones from values, else the chart's own. */}}
{{- define "callfabric.tlsSecret" -}}
{{- if .Values.gateway.tls.secretName -}}{{ .Values.gateway.tls.secretName }}
{{- else -}}{{ include "callfabric.fullname" . }}-api-tls{{- end -}}
{{- end -}}

{{- define "callfabric.operatorSecret" -}}
{{- if .Values.gateway.operatorTokenSecret -}}{{ .Values.gateway.operatorTokenSecret }}
{{- else -}}{{ include "callfabric.fullname" . }}-operator{{- end -}}
{{- end -}}

{{- define "callfabric.rayTokenSecret" -}}
{{- if .Values.ray.authTokenSecret -}}{{ .Values.ray.authTokenSecret }}
{{- else -}}{{ include "callfabric.fullname" . }}-ray-token{{- end -}}
{{- end -}}

{{- define "callfabric.vaultSecret" -}}
{{- if .Values.vault.rootKeySecret -}}{{ .Values.vault.rootKeySecret }}
{{- else -}}{{ include "callfabric.fullname" . }}-vault-root{{- end -}}
{{- end -}}

{{/* The host name the probes check in the API's certificate. */}}
{{- define "callfabric.tlsServerName" -}}
{{- $tls := .Values.gateway.tls -}}
{{- if $tls.serverName -}}{{ $tls.serverName }}
{{- else if and $tls.certManager.enabled (not $tls.certManager.includeServiceNames) -}}{{ first $tls.certManager.dnsNames }}
{{- else -}}{{ include "callfabric.gatewayService" . }}{{- end -}}
{{- end -}}

{{- define "callfabric.gatewayService" -}}{{ include "callfabric.fullname" . }}-gateway{{- end -}}

{{- define "callfabric.cassandraService" -}}{{ include "callfabric.fullname" . }}-cassandra{{- end -}}

{{/* Contact points: the in-chart StatefulSet's pods, or the carrier's cluster. */}}
{{- define "callfabric.cassandraHosts" -}}
{{- if eq .Values.cassandra.mode "internal" -}}
{{- $svc := include "callfabric.cassandraService" . -}}
{{- $hosts := list -}}
{{- range $i := until (int .Values.cassandra.internal.replicas) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s-headless.%s.svc" $svc $i $svc $.Release.Namespace) -}}
{{- end -}}
{{- toJson $hosts -}}
{{- else -}}
{{- toJson .Values.cassandra.external.contactPoints -}}
{{- end -}}
{{- end -}}

{{- define "callfabric.cassandraTls" -}}
{{- if and (eq .Values.cassandra.mode "external") .Values.cassandra.external.caSecret -}}true{{- end -}}
{{- end -}}

{{- define "callfabric.cassandraAuth" -}}
{{- if and (eq .Values.cassandra.mode "external") .Values.cassandra.external.credentialsSecret -}}true{{- end -}}
{{- end -}}

{{/* Environment shared by every fabric container (settings in the ConfigMap, secrets as files). */}}
{{- define "callfabric.env" -}}
- name: FABRIC_NODE_IP
  valueFrom:
    fieldRef: {fieldPath: status.hostIP}
{{- if include "callfabric.cassandraAuth" . }}
- name: FABRIC_STORAGE__CASSANDRA_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.cassandra.external.credentialsSecret }}
      key: {{ .Values.cassandra.external.usernameKey }}
{{- end }}
{{- end -}}

{{- define "callfabric.envFrom" -}}
- configMapRef:
    name: {{ include "callfabric.fullname" . }}-settings
{{- end -}}

{{/* The vault key and Ray's token are copied from their Secrets into memory with mode 0600
     (the key provider refuses group-readable files, a Secret volume with fsGroup is
     group-readable, and the token's folder must be writable for its lock file). */}}
{{- define "callfabric.initContainers" -}}
- name: secrets
  image: {{ include "callfabric.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["sh", "-c", "install -m 0600 /var/run/fabric/vault-secret/{{ .Values.vault.key }} /var/run/fabric/vault/root.key && install -m 0600 /var/run/fabric/ray-secret/auth_token /var/run/fabric/ray/auth_token"]
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {cpu: 100m, memory: 64Mi}
  volumeMounts:
    - {name: vault-secret, mountPath: /var/run/fabric/vault-secret, readOnly: true}
    - {name: vault, mountPath: /var/run/fabric/vault}
    - {name: ray-token-secret, mountPath: /var/run/fabric/ray-secret, readOnly: true}
    - {name: ray-auth, mountPath: /var/run/fabric/ray}
{{- end -}}

{{- define "callfabric.volumeMounts" -}}
- {name: tls, mountPath: /var/run/fabric/tls, readOnly: true}
- {name: operator, mountPath: /var/run/fabric/operator, readOnly: true}
- {name: vault, mountPath: /var/run/fabric/vault, readOnly: true}
- {name: spool, mountPath: /var/lib/fabric/spool}
- {name: ray-tmp, mountPath: /tmp}
- {name: ray-auth, mountPath: /var/run/fabric/ray}
{{- if include "callfabric.cassandraAuth" . }}
- {name: cassandra-credentials, mountPath: /var/run/fabric/cassandra, readOnly: true}
{{- end }}
{{- if include "callfabric.cassandraTls" . }}
- {name: cassandra-ca, mountPath: /var/run/fabric/cassandra-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "callfabric.volumes" -}}
- name: tls
  secret:
    secretName: {{ include "callfabric.tlsSecret" . }}
    items:
      - {key: tls.crt, path: server.pem}
      - {key: tls.key, path: server.key}
      - {key: ca.crt, path: ca.pem}
- name: operator
  secret:
    secretName: {{ include "callfabric.operatorSecret" . }}
    items:
      - {key: token, path: token}
- name: vault-secret
  secret:
    secretName: {{ include "callfabric.vaultSecret" . }}
- name: vault
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
- name: spool
  emptyDir: {sizeLimit: {{ .Values.spool.sizeLimit }}}
- name: ray-tmp
  emptyDir: {}
- name: ray-token-secret
  secret:
    secretName: {{ include "callfabric.rayTokenSecret" . }}
    items:
      - {key: auth_token, path: auth_token}
- name: ray-auth
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
{{- if include "callfabric.cassandraTls" . }}
- name: cassandra-ca
  secret:
    secretName: {{ .Values.cassandra.external.caSecret }}
    items:
      - {key: ca.crt, path: ca.pem}
{{- end }}
{{- if include "callfabric.cassandraAuth" . }}
- name: cassandra-credentials
  secret:
    secretName: {{ .Values.cassandra.external.credentialsSecret }}
    items:
      - {key: {{ .Values.cassandra.external.passwordKey }}, path: password}
{{- end }}
{{- end -}}
