{{- /* Checks JSON schema cannot express; included by control.yaml so they always run. */ -}}
{{- define "callfabric.validate" -}}
{{- if gt (int .Values.media.portMin) (int .Values.media.portMax) -}}
{{- fail "media.portMin must not exceed media.portMax" -}}
{{- end -}}
{{- if and (not .Values.media.hostNetwork) (gt (int (sub .Values.media.portMax .Values.media.portMin)) 999) -}}
{{- fail "media: more than 1000 UDP ports need media.hostNetwork=true (each port is a hostPort otherwise)" -}}
{{- end -}}
{{- if lt (int (sub .Values.media.portMax .Values.media.portMin)) (int (mul 2 .Values.media.relaysPerNode)) -}}
{{- fail "media: the port range needs at least 2 ports per relay" -}}
{{- end -}}
{{- if and .Values.gateway.tls.secretName .Values.gateway.tls.certManager.enabled -}}
{{- fail "gateway.tls: give secretName or certManager.enabled, not both" -}}
{{- end -}}
{{- if and (eq .Values.cassandra.mode "internal") (gt (int .Values.cassandra.replicationFactor) (int .Values.cassandra.internal.replicas)) -}}
{{- fail "cassandra.replicationFactor exceeds cassandra.internal.replicas" -}}
{{- end -}}
{{- if and .Values.gateway.tls.certManager.enabled (not .Values.gateway.tls.certManager.includeServiceNames) (not .Values.gateway.tls.certManager.dnsNames) -}}
{{- fail "gateway.tls.certManager: without includeServiceNames, give at least one dnsName" -}}
{{- end -}}
{{- if and .Values.monitoring.podMonitor.enabled .Values.monitoring.serviceMonitor.enabled -}}
{{- fail "monitoring: enable podMonitor or serviceMonitor, not both (each scrape would count twice)" -}}
{{- end -}}
{{- end -}}
