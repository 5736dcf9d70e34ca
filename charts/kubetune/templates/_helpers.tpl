{{/*
Named fragments of the kubetune chart. Every pod spec and every cross-object name comes from here, so the
Deployment, the RayCluster, the NetworkPolicies and the operator's configuration cannot disagree.
*/}}

{{/* ---- names and labels ------------------------------------------------------------------------------ */}}

{{- define "kubetune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource prefix: `kubetune` for release `kubetune` (what the jobs' standalone RayJobs expect). */}}
{{- define "kubetune.fullname" -}}
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

{{- define "kubetune.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubetune.labels" -}}
helm.sh/chart: {{ include "kubetune.chart" . }}
app.kubernetes.io/name: {{ include "kubetune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubetune
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels selecting the operator's pods (Deployment, Service, NetworkPolicies, ServiceMonitor). */}}
{{- define "kubetune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubetune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Labels of kubetune's Ray pods (this chart's RayCluster; the operator's RayJobs carry the same `managed-by` from
kubetune.kube.rayjobs, and KubeRay copies a template's labels onto its pods). KubeRay creates these pods, Helm does
not: `managed-by: kubetune` is what the Ray NetworkPolicy and the PodMonitor select, so another team's RayCluster
or a RayService in the same namespace is left alone. Users' labels never replace these.
*/}}
{{- define "kubetune.rayPodLabels" -}}
{{- $labels := include "kubetune.labels" . | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/managed-by" "kubetune" }}
{{- $_ := set $labels "app.kubernetes.io/component" "ray" }}
{{- toYaml $labels }}
{{- end }}

{{/* Selects kubetune's Ray pods, heads and workers (see kubetune.rayPodLabels). */}}
{{- define "kubetune.rayPodSelector" -}}
matchLabels:
  app.kubernetes.io/managed-by: kubetune
matchExpressions:
  - key: ray.io/node-type
    operator: Exists
{{- end }}

{{/*
Pull secrets of every pod the chart renders and of the operator's RayJobs: operator.imagePullSecrets, as names or
{name: ...} objects. kubetune.imagePullSecretNames: the names, as a JSON list.
*/}}
{{- define "kubetune.imagePullSecretNames" -}}
{{- $names := list }}
{{- range .Values.operator.imagePullSecrets }}
{{- if kindIs "string" . }}{{ $names = append $names . }}{{ else }}{{ $names = append $names .name }}{{ end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{- define "kubetune.imagePullSecrets" -}}
{{- range include "kubetune.imagePullSecretNames" . | fromJsonArray }}
- name: {{ . }}
{{- end }}
{{- end }}

{{- define "kubetune.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubetune.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the ingest token (the chart's, or ingest.existingSecret). */}}
{{- define "kubetune.tokenSecretName" -}}
{{- default (printf "%s-ingest" (include "kubetune.fullname" .)) .Values.ingest.existingSecret }}
{{- end }}

{{/* Where Ray drivers report trial metrics: the operator's Service, fully qualified for other namespaces. */}}
{{- define "kubetune.ingestURL" -}}
{{- printf "http://%s.%s.svc:%v" (include "kubetune.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}

{{- define "kubetune.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "kubetune.rayImage" -}}
{{- printf "%s:%s" .Values.ray.image.repository (default .Chart.AppVersion .Values.ray.image.tag) }}
{{- end }}

{{- define "kubetune.rayClusterName" -}}
{{- default (printf "%s-ray" (include "kubetune.fullname" .)) .Values.raycluster.name | trunc 47 | trimSuffix "-" }}
{{- end }}

{{/* ---- the operator's scope ------------------------------------------------------------------------------ */}}

{{/* "true" when the operator watches every namespace (watchNamespaces: ["*"]). */}}
{{- define "kubetune.clusterWide" -}}
{{- if has "*" .Values.operator.watchNamespaces }}true{{ end }}
{{- end }}

{{/* The namespaces the operator works in, as a JSON list (the release namespace when none are listed). */}}
{{- define "kubetune.watchNamespaces" -}}
{{- if .Values.operator.watchNamespaces }}
{{- toJson (uniq .Values.operator.watchNamespaces) }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* Namespaces where Ray pods run and get a NetworkPolicy: the release namespace plus the watched ones. */}}
{{- define "kubetune.rayNamespaces" -}}
{{- $ns := list .Release.Namespace }}
{{- range .Values.operator.watchNamespaces }}{{ if ne . "*" }}{{ $ns = append $ns . }}{{ end }}{{ end }}
{{- toJson (uniq $ns) }}
{{- end }}

{{/*
What the operator may do in each namespace it works in: tests/charts/test_rbac.py reads the operator's API calls
from operator/kubetune_operator/ and fails when this table grants more or less. One place to change.
- tuneexperiments: list and watch (its cache), get (is it still alive before re-creating a vanished RayJob?);
  the status subresource: patch.
- tuneexperiments/finalizers update: no call, but the RayJob's ownerReference sets blockOwnerDeletion, which
  the API server's OwnerReferencesPermissionEnforcement admission only allows with this permission.
- rayjobs: list and watch (its cache), create, and get (to adopt one after a 409). No update/patch/delete: the
  operator never edits a RayJob, and the garbage collector deletes it with its experiment.
- events: create (names are deterministic, so a repeated reconcile gets 409 instead of a duplicate).
No Secrets: the operator's token is a mounted file.
*/}}
{{- define "kubetune.operatorRules" -}}
- apiGroups: ["kubetune.io"]
  resources: ["tuneexperiments"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kubetune.io"]
  resources: ["tuneexperiments/status"]
  verbs: ["patch"]
- apiGroups: ["kubetune.io"]
  resources: ["tuneexperiments/finalizers"]
  verbs: ["update"]
- apiGroups: ["ray.io"]
  resources: ["rayjobs"]
  verbs: ["get", "list", "watch", "create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
What the operator may do with its Lease, in the release namespace only (a Role there, whatever
watchNamespaces says): leading.py reads it (get), makes it once (create) and renews or takes it over with a
resourceVersion precondition (update). No list/watch/delete, and nothing in any other namespace: a ClusterRole
on leases would let the operator take over every controller's Lease in the cluster. tests/charts/test_rbac.py
checks this against leading.py's calls, as it checks kubetune.operatorRules.
*/}}
{{- define "kubetune.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}

{{/* "true" when replicas elect a leader: more than one replica. */}}
{{- define "kubetune.leaderElection" -}}
{{- if gt (int .Values.operator.replicas) 1 }}true{{ end }}
{{- end }}

{{/* The Lease replicas elect their leader on (in the release namespace); one per release. */}}
{{- define "kubetune.leaseName" -}}
{{- printf "%s-operator" (include "kubetune.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* ---- the operator's command line and configuration ------------------------------------------------------- */}}

{{- define "kubetune.configDir" -}}/etc/kubetune{{- end }}
{{- define "kubetune.tokenDir" -}}/var/run/kubetune{{- end }}
{{/* The container port of the operator's one HTTP server (ingest, /metrics, /healthz, /readyz). */}}
{{- define "kubetune.httpPort" -}}8080{{- end }}

{{/*
The operator's arguments (the image's entrypoint is `kubetune`): the only place that knows its command line,
so aligning with `kubetune operator --help` is a one-place change. Everything else travels in the settings
file (kubetune.operatorConfig), whose format operator/kubetune_operator/settings.py defines and checks.
*/}}
{{- define "kubetune.operatorArgs" -}}
{{- if .Values.operator.debug }}
- --debug
{{- end }}
- operator
- --config={{ include "kubetune.configDir" . }}/config.yaml
{{- with .Values.operator.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The GPU pool of GPU trials that name none: ray.defaultGpuPool, which must be a key of ray.gpuPools, else the first
key in alphabetical order (Helm sorts maps). Empty when there is no GPU pool.
*/}}
{{- define "kubetune.defaultGpuPool" -}}
{{- $pools := .Values.ray.gpuPools | default dict }}
{{- with .Values.ray.defaultGpuPool }}
{{- if not (hasKey $pools .) }}
{{- fail (printf "ray.defaultGpuPool: %q is not a GPU pool; ray.gpuPools has: %s" . (keys $pools | sortAlpha | join ", " | default "none")) }}
{{- end }}
{{- . }}
{{- else }}
{{- keys $pools | sortAlpha | first | default "" }}
{{- end }}
{{- end }}

{{/*
A worker pool as the settings name it (kubetune.kube.raysettings.WorkerPool in camelCase): `name`, `pool`, and
`path` (where the values are, for errors). Bounds KubeRay would refuse at admission are refused here, naming the
pool. Everything kubetune.rayWorkerGroup renders from a pool is here too, so the operator's RayJobs get the same pods.
*/}}
{{- define "kubetune.poolConfig" -}}
{{- if gt (int .pool.minReplicas) (int .pool.maxReplicas) }}
{{- fail (printf "%s: minReplicas (%v) is above maxReplicas (%v); KubeRay refuses such a worker group" .path .pool.minReplicas .pool.maxReplicas) }}
{{- end -}}
name: {{ .name }}
gpus: {{ .pool.gpus | default 0 }}
cpu: {{ .pool.cpu | quote }}
memory: {{ .pool.memory | quote }}
minReplicas: {{ .pool.minReplicas }}
maxReplicas: {{ .pool.maxReplicas }}
idleTimeoutSeconds: {{ .pool.idleTimeoutSeconds }}
nodeSelector: {{ .pool.nodeSelector | default dict | toJson }}
tolerations: {{ .pool.tolerations | default list | toJson }}
annotations: {{ .pool.annotations | default dict | toJson }}
labels: {{ .pool.labels | default dict | toJson }}
rayStartParams: {{ .pool.rayStartParams | default dict | toJson }}
{{- with .pool.serviceAccountName }}
serviceAccount: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
operator.leaderElection, checked as the operator checks it (a bad combination would otherwise show only as a
crash loop): lease > renew deadline > retry period. Renders nothing.
*/}}
{{- define "kubetune.checkLeaseTiming" -}}
{{- $lease := float64 .leaseDurationSeconds }}
{{- $renew := float64 .renewDeadlineSeconds }}
{{- $retry := float64 .retryPeriodSeconds }}
{{- if not (gt $lease $renew) }}
{{- fail (printf "operator.leaderElection: leaseDurationSeconds (%v) must be longer than renewDeadlineSeconds (%v), so a leader stops before another may take over" .leaseDurationSeconds .renewDeadlineSeconds) }}
{{- end }}
{{- if not (gt $renew $retry) }}
{{- fail (printf "operator.leaderElection: renewDeadlineSeconds (%v) must be longer than retryPeriodSeconds (%v)" .renewDeadlineSeconds .retryPeriodSeconds) }}
{{- end }}
{{- end }}

{{/*
The operator's settings file (ConfigMap key config.yaml), in the format of
operator/kubetune_operator/settings.py (OperatorSettings, camelCase keys; unknown keys are errors there).
`operator.extraConfig` is merged over it.
*/}}
{{- define "kubetune.operatorConfig" -}}
{{- /* The default GPU pool first: the operator gives GPU trials that name no pool the first one. */}}
{{- $default := include "kubetune.defaultGpuPool" . }}
{{- $names := without (keys (.Values.ray.gpuPools | default dict) | sortAlpha) $default }}
{{- if $default }}
{{- $names = prepend $names $default }}
{{- end }}
{{- $pools := list }}
{{- range $name := $names }}
{{- $pool := index $.Values.ray.gpuPools $name }}
{{- $path := printf "ray.gpuPools.%s" $name }}
{{- $pools = append $pools (include "kubetune.poolConfig" (dict "name" $name "pool" $pool "path" $path) | fromYaml) }}
{{- end }}
{{- $rayjob := dict
    "defaultImage" (include "kubetune.rayImage" .)
    "headCpu" (toString .Values.ray.head.cpu)
    "headMemory" (toString .Values.ray.head.memory)
    "backoffLimit" .Values.rayJobs.backoffLimit
    "ttlSecondsAfterFinished" .Values.rayJobs.ttlSecondsAfterFinished
    "deadlineMarginSeconds" .Values.rayJobs.deadlineMarginSeconds
    "preRunningDeadlineSeconds" .Values.rayJobs.preRunningDeadlineSeconds
    "cpuPool" (include "kubetune.poolConfig" (dict "name" "cpu" "pool" .Values.ray.cpuPool "path" "ray.cpuPool") | fromYaml)
    "pools" $pools }}
{{- if .Values.storage.enabled }}
{{- $_ := set $rayjob "defaultStoragePath" .Values.storage.path }}
{{- $_ := set $rayjob "storage" (dict "claimName" .Values.storage.claimName "mountPath" .Values.storage.mountPath) }}
{{- end }}
{{- with .Values.ray.serviceAccountName }}
{{- $_ := set $rayjob "serviceAccount" . }}
{{- end }}
{{- /* Every field kubetune.rayPodTemplate renders from the values, for the RayJobs' pods (RayPodSettings). */}}
{{- $ray := .Values.ray }}
{{- $_ := set $rayjob "headNodeSelector" ($ray.head.nodeSelector | default dict) }}
{{- $_ := set $rayjob "headTolerations" ($ray.head.tolerations | default list) }}
{{- $_ := set $rayjob "pod" (dict
    "annotations" ($ray.podAnnotations | default dict)
    "labels" ($ray.podLabels | default dict)
    "imagePullSecrets" (include "kubetune.imagePullSecretNames" . | fromJsonArray)
    "imagePullPolicy" $ray.image.pullPolicy
    "schedulerName" ($ray.schedulerName | default "")
    "priorityClassName" ($ray.priorityClassName | default "")
    "securityContext" (deepCopy $ray.podSecurityContext)
    "containerSecurityContext" (deepCopy $ray.securityContext)) }}
{{- $namespaces := list }}
{{- if not (include "kubetune.clusterWide" .) }}
{{- $namespaces = include "kubetune.watchNamespaces" . | fromJsonArray }}
{{- end }}
{{- $config := dict
    "namespace" .Release.Namespace
    "watch" (dict "namespaces" $namespaces "resyncSeconds" .Values.operator.resyncSeconds)
    "api" (deepCopy .Values.operator.api)
    "reconcile" (dict "workers" .Values.operator.workers)
    "server" (dict "host" "0.0.0.0" "port" (include "kubetune.httpPort" . | int))
    "ingest" (dict
        "url" (include "kubetune.ingestURL" .)
        "tokenFile" (printf "%s/token" (include "kubetune.tokenDir" .))
        "secretName" (include "kubetune.tokenSecretName" .)
        "secretKey" .Values.ingest.secretKey)
    "rayjob" $rayjob }}
{{- if include "kubetune.leaderElection" . }}
{{- $election := .Values.operator.leaderElection }}
{{- include "kubetune.checkLeaseTiming" $election }}
{{- /* identity and advertiseUrl default to $POD_NAME and http://$POD_IP:<port> (the Deployment's env). */}}
{{- $_ := set $config "leader" (dict
    "enabled" true
    "leaseName" (include "kubetune.leaseName" .)
    "leaseDurationSeconds" $election.leaseDurationSeconds
    "renewDeadlineSeconds" $election.renewDeadlineSeconds
    "retryPeriodSeconds" $election.retryPeriodSeconds) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $config (deepCopy .Values.operator.extraConfig)) }}
{{- end }}

{{/* ---- Ray pods ------------------------------------------------------------------------------------------- */}}

{{/*
The security of every Ray container: ray.securityContext (the operator's RayJobs get it too, through the settings'
rayjob.pod.containerSecurityContext).
*/}}
{{- define "kubetune.rayContainerSecurityContext" -}}
{{- toYaml .Values.ray.securityContext }}
{{- end }}

{{/* Ray pods: ray.podSecurityContext (by default Ray's image user, uid 1000, group users, and the volumes' group). */}}
{{- define "kubetune.rayPodSecurityContext" -}}
{{- toYaml .Values.ray.podSecurityContext }}
{{- end }}

{{/* Every Ray container reports trial metrics to the operator (the driver lands on any of them). */}}
{{- define "kubetune.rayEnv" -}}
- name: KUBETUNE_INGEST_URL
  value: {{ include "kubetune.ingestURL" . | quote }}
- name: KUBETUNE_INGEST_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "kubetune.tokenSecretName" . }}
      key: {{ .Values.ingest.secretKey }}
      # Without the Secret the pods still run, just without live metrics (as the operator's RayJobs).
      optional: true
{{- end }}

{{/*
One Ray pod template. The operator's RayJobs build theirs in kubetune.kube.raypods from the settings this chart
writes (kubetune.operatorConfig): tests/charts/test_ray_pod_parity.py compares the two field by field, so a change
here goes there too (and into the settings). `root` (the chart context), `container` (ray-head / ray-worker), `cpu`, `memory`,
`gpus`, `ports` (name → port), `nodeSelector`, `tolerations`, `head` (bool: the autoscaler sidecar runs in the
head and needs the ServiceAccount token; workers do not), and a pool's own `labels`, `annotations` and
`serviceAccountName` (optional).
*/}}
{{- define "kubetune.rayPodTemplate" -}}
{{- $root := .root -}}
{{- $ray := $root.Values.ray -}}
{{- $labels := mergeOverwrite (deepCopy ($ray.podLabels | default dict)) (deepCopy (.labels | default dict))
    (include "kubetune.rayPodLabels" $root | fromYaml) }}
{{- $annotations := mergeOverwrite (deepCopy ($ray.podAnnotations | default dict)) (deepCopy (.annotations | default dict)) -}}
metadata:
  labels:
    {{- toYaml $labels | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .serviceAccountName | default $ray.serviceAccountName }}
  serviceAccountName: {{ . }}
  {{- end }}
  {{- if not .head }}
  # Workers never call the API server (an object-storage identity needs no API token either).
  automountServiceAccountToken: false
  {{- end }}
  {{- with include "kubetune.imagePullSecrets" $root }}
  imagePullSecrets:
    {{- . | trim | nindent 4 }}
  {{- end }}
  {{- with $ray.schedulerName }}
  schedulerName: {{ . }}
  {{- end }}
  {{- with $ray.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- include "kubetune.rayPodSecurityContext" $root | nindent 4 }}
  {{- with .nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .container }}
      image: {{ include "kubetune.rayImage" $root }}
      imagePullPolicy: {{ $root.Values.ray.image.pullPolicy }}
      {{- $resources := dict "cpu" (toString .cpu) "memory" (toString .memory) }}
      {{- if .gpus }}
      {{- $_ := set $resources "nvidia.com/gpu" (toString .gpus) }}
      {{- end }}
      resources:
        requests:
          {{- toYaml $resources | nindent 10 }}
        limits:
          {{- toYaml $resources | nindent 10 }}
      ports:
        {{- range $name, $port := .ports }}
        - name: {{ $name }}
          containerPort: {{ $port }}
        {{- end }}
      env:
        {{- include "kubetune.rayEnv" $root | nindent 8 }}
        {{- if not .gpus }}
        # A pod without GPUs (the head, the CPU pool) must not see, and hold, the GPUs of the node it lands on.
        - name: NVIDIA_VISIBLE_DEVICES
          value: void
        {{- end }}
      securityContext:
        {{- include "kubetune.rayContainerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        - name: ray-tmp
          mountPath: /tmp/ray
        {{- if $root.Values.storage.enabled }}
        - name: kubetune-storage
          mountPath: {{ $root.Values.storage.mountPath }}
        {{- end }}
  volumes:
    # Ray writes logs and spill files under /tmp/ray.
    - name: ray-tmp
      emptyDir: {}
    {{- if $root.Values.storage.enabled }}
    - name: kubetune-storage
      persistentVolumeClaim:
        claimName: {{ $root.Values.storage.claimName }}
    {{- end }}
{{- end }}

{{/* A worker group for one pool: `root`, `name`, `pool` (cpuPool or a gpuPools entry). */}}
{{- define "kubetune.rayWorkerGroup" -}}
groupName: {{ .name }}
replicas: {{ .pool.minReplicas }}
minReplicas: {{ .pool.minReplicas }}
maxReplicas: {{ .pool.maxReplicas }}
idleTimeoutSeconds: {{ .pool.idleTimeoutSeconds }}
rayStartParams: {{ .pool.rayStartParams | default dict | toJson }}
template:
  {{- include "kubetune.rayPodTemplate" (dict "root" .root "container" "ray-worker" "head" false
      "cpu" .pool.cpu "memory" .pool.memory "gpus" (.pool.gpus | default 0)
      "ports" (dict "metrics" 8080) "nodeSelector" .pool.nodeSelector "tolerations" .pool.tolerations
      "labels" .pool.labels "annotations" .pool.annotations "serviceAccountName" .pool.serviceAccountName) | nindent 2 }}
{{- end }}

{{/* ---- NetworkPolicy fragments ---------------------------------------------------------------------------- */}}

{{- define "kubetune.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.egress.dnsNamespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.egress.dnsPodLabels | nindent 10 }}
    {{- /* A node-local cache answers from the node's network, which no pod selector matches. */}}
    {{- range .Values.networkPolicy.egress.dnsCIDRs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{- define "kubetune.apiServerEgress" -}}
- to:
    {{- range .Values.networkPolicy.egress.apiServerCIDRs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.egress.apiServerPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
