package validate

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// manifests is what `kubectl apply -k dir` would send, each object decoded
// strictly into its k8s.io/api type: an unknown kind, an unknown or
// duplicated field, or a value of the wrong type fails the build.
type manifests struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	namespaces   []*corev1.Namespace
}

func build(t *testing.T, dir string) *manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy", "k8s", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, gvk, err := decoder.Decode(y, nil, nil)
		if err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", dir, r.GetKind(), r.GetName(), err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			m.statefulSets = append(m.statefulSets, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *corev1.Namespace:
			m.namespaces = append(m.namespaces, o)
		default:
			t.Errorf("%s: unexpected kind %s", dir, gvk)
		}
	}
	if len(m.statefulSets) != 1 {
		t.Fatalf("%s: %d StatefulSets, want 1", dir, len(m.statefulSets))
	}
	return m
}

func TestKustomizeBase(t *testing.T) {
	checkManifests(t, "base", build(t, "base"))
}

func TestKustomizeProductionOverlay(t *testing.T) {
	m := build(t, "overlays/production")
	checkManifests(t, "overlays/production", m)
	if len(m.namespaces) != 1 || m.namespaces[0].Name != "emporium" {
		t.Fatalf("the overlay makes namespaces %v, want emporium", m.namespaces)
	}
	ns := m.namespaces[0].Name
	sts := m.statefulSets[0]
	for _, name := range []string{sts.Namespace, m.services[0].Namespace, m.pdbs[0].Namespace} {
		if name != ns {
			t.Errorf("an object is in namespace %q, want %q", name, ns)
		}
	}
	if img := sts.Spec.Template.Spec.Containers[0].Image; !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
		t.Errorf("the overlay's image %q is not pinned", img)
	}
	cfg := configOf(t, m, &sts.Spec.Template.Spec.Containers[0])
	if !strings.HasPrefix(cfg["PUBLIC_URL"], "https://") {
		t.Errorf("PUBLIC_URL=%q in production", cfg["PUBLIC_URL"])
	}
	if cfg["TRUSTED_PROXIES"] == "" {
		t.Error("TRUSTED_PROXIES is empty in production: behind an ingress every client would share its address")
	}
	if got := sts.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != "2Gi" {
		t.Errorf("the overlay's memory limit is %s", got)
	}
}

// configOf returns the settings a container gets from its ConfigMaps and
// Secrets (envFrom) and its own env, the latter winning.
func configOf(t *testing.T, m *manifests, c *corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := m.configMaps[from.ConfigMapRef.Name]
			if !ok {
				t.Errorf("container %s: ConfigMap %s is not in the build", c.Name, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				out[k] = v
			}
		case from.SecretRef != nil:
			s, ok := m.secrets[from.SecretRef.Name]
			if !ok {
				t.Errorf("container %s: Secret %s is not in the build", c.Name, from.SecretRef.Name)
				continue
			}
			for k, v := range s.StringData {
				out[k] = v
			}
			for k, v := range s.Data {
				out[k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func checkManifests(t *testing.T, dir string, m *manifests) {
	known := nodeSettings(t)
	sts := m.statefulSets[0]
	pod := sts.Spec.Template
	podLabels := labels.Set(pod.Labels)

	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("%s: the StatefulSet's selector does not match its pods", dir)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas < 2 {
		t.Errorf("%s: replicas %v: a cluster needs at least 2", dir, sts.Spec.Replicas)
	}

	// Services: a headless one for the members, a client one for the API.
	var headless, client *corev1.Service
	for _, s := range m.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) || len(s.Spec.Selector) == 0 {
			t.Errorf("%s: Service %s does not select the nodes", dir, s.Name)
		}
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless = s
		} else {
			client = s
		}
	}
	if headless == nil || client == nil {
		t.Fatalf("%s: want a headless and a client Service, have %d Services", dir, len(m.services))
	}
	if sts.Spec.ServiceName != headless.Name {
		t.Errorf("%s: serviceName %q is not the headless Service %q", dir, sts.Spec.ServiceName, headless.Name)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("%s: the headless Service hides members that are not ready yet, so they cannot find each other", dir)
	}

	// PodDisruptionBudget over the same pods.
	if len(m.pdbs) != 1 {
		t.Fatalf("%s: %d PodDisruptionBudgets, want 1", dir, len(m.pdbs))
	}
	if s, err := metav1.LabelSelectorAsSelector(m.pdbs[0].Spec.Selector); err != nil || !s.Matches(podLabels) {
		t.Errorf("%s: the PodDisruptionBudget does not select the nodes", dir)
	}

	// Pod security: non-root, read-only root file systems, nothing to escalate.
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("%s: the pod does not run as a non-root user", dir)
	}
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s: root file system writable or privilege escalation allowed", dir, c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: container %s lacks cpu/memory requests or a memory limit", dir, c.Name)
		}
	}

	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", dir, len(pod.Spec.Containers))
	}
	c := &pod.Spec.Containers[0]
	cfg := configOf(t, m, c)
	var names []string
	for k := range cfg {
		names = append(names, k)
	}
	// Variables only used to build others ($(POD_NAME) below) are no settings.
	names = slices.DeleteFunc(names, func(n string) bool { return n == "POD_NAME" })
	checkEnvNames(t, dir+": the node container", names, known)

	port := func(name string) int32 {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
		t.Errorf("%s: the node container has no port named %s", dir, name)
		return -1
	}
	portOf := func(setting string) string {
		_, p, err := net.SplitHostPort(cfg[setting])
		if err != nil {
			t.Errorf("%s: %s=%q: %v", dir, setting, cfg[setting], err)
		}
		return p
	}
	if strconv.Itoa(int(port("http"))) != portOf("HTTP_ADDR") {
		t.Errorf("%s: port http is not HTTP_ADDR's", dir)
	}
	if strconv.Itoa(int(port("cluster"))) != portOf("CLUSTER_ADDR") {
		t.Errorf("%s: port cluster is not CLUSTER_ADDR's", dir)
	}
	if strconv.Itoa(int(port("cluster-health"))) != cfg["CLUSTER_HEALTH_PORT"] {
		t.Errorf("%s: port cluster-health is not CLUSTER_HEALTH_PORT", dir)
	}
	metricsPort := portOf("METRICS_ADDR")
	if strconv.Itoa(int(port("metrics"))) != metricsPort {
		t.Errorf("%s: port metrics is not METRICS_ADDR's", dir)
	}

	// Probes: readiness on /readyz, liveness on /healthz, on the API port.
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: %s probe is not GET %s on port http", dir, p.name, p.path)
		}
	}

	// Prometheus scrapes the metrics port, which the client Service does not carry.
	ann := pod.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != metricsPort || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: scrape annotations %v do not point at the metrics port %s", dir, ann, metricsPort)
	}
	for _, p := range client.Spec.Ports {
		if p.TargetPort.String() == "metrics" || p.TargetPort.String() == metricsPort {
			t.Errorf("%s: the client Service exposes the metrics port", dir)
		}
	}

	// The cluster (DESIGN §2): automanaged over the pods' stable names.
	if cfg["CLUSTER_PROVIDER"] != "automanaged" {
		t.Errorf("%s: CLUSTER_PROVIDER=%q", dir, cfg["CLUSTER_PROVIDER"])
	}
	var peers []string
	for i := range int(*sts.Spec.Replicas) {
		peers = append(peers, fmt.Sprintf("%s-%d.%s:%s", sts.Name, i, headless.Name, cfg["CLUSTER_HEALTH_PORT"]))
	}
	if cfg["CLUSTER_PEERS"] != strings.Join(peers, ",") {
		t.Errorf("%s: CLUSTER_PEERS=%q, want every replica: %q", dir, cfg["CLUSTER_PEERS"], strings.Join(peers, ","))
	}
	if want := "$(POD_NAME)." + headless.Name + ":" + portOf("CLUSTER_ADDR"); cfg["CLUSTER_ADVERTISED_ADDR"] != want {
		t.Errorf("%s: CLUSTER_ADVERTISED_ADDR=%q, want %q", dir, cfg["CLUSTER_ADVERTISED_ADDR"], want)
	}
	for _, e := range c.Env {
		if e.Name == "POD_NAME" && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name") {
			t.Errorf("%s: POD_NAME is not the pod's name", dir)
		}
	}
	for _, c := range strings.Split(cfg["TRUSTED_PROXIES"], ",") {
		if c = strings.TrimSpace(c); c != "" {
			if _, err := netip.ParsePrefix(c); err != nil {
				t.Errorf("%s: TRUSTED_PROXIES: %v", dir, err)
			}
		}
	}

	// Writable places on a read-only root: DATA_DIR, and the key's folder,
	// filled from the Secret.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	if vm, ok := mounts[cfg["DATA_DIR"]]; !ok || volumes[vm.Name].EmptyDir == nil || vm.ReadOnly {
		t.Errorf("%s: DATA_DIR=%s is not a writable emptyDir", dir, cfg["DATA_DIR"])
	}
	if _, ok := mounts[filepath.Dir(cfg["JWT_KEY_FILE"])]; !ok {
		t.Errorf("%s: JWT_KEY_FILE=%s is on no volume", dir, cfg["JWT_KEY_FILE"])
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			s, ok := m.secrets[v.Secret.SecretName]
			if !ok {
				t.Errorf("%s: volume %s names Secret %s, which is not in the build", dir, v.Name, v.Secret.SecretName)
			} else if _, ok := s.StringData[filepath.Base(cfg["JWT_KEY_FILE"])]; !ok {
				t.Errorf("%s: Secret %s has no %s", dir, s.Name, filepath.Base(cfg["JWT_KEY_FILE"]))
			}
		}
	}
	// The payment keys and store URLs are Secrets, not config.
	for _, k := range []string{"MONGODB_URI", "REDIS_URL", "ELASTICSEARCH_URL", "SMTP_URL", "SANDBOX_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "PAYPAL_SECRET"} {
		for _, cm := range m.configMaps {
			if _, ok := cm.Data[k]; ok {
				t.Errorf("%s: %s is in ConfigMap %s: it belongs in a Secret", dir, k, cm.Name)
			}
		}
		if _, ok := cfg[k]; !ok {
			t.Errorf("%s: the node gets no %s", dir, k)
		}
	}
	shutdown, err := time.ParseDuration(cfg["SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Errorf("%s: SHUTDOWN_TIMEOUT: %v", dir, err)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
		t.Errorf("%s: terminationGracePeriodSeconds is not longer than SHUTDOWN_TIMEOUT=%s", dir, cfg["SHUTDOWN_TIMEOUT"])
	}
}
