package deployments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	yamlv3 "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/runnerhub/lifeboat/schemas"
)

// regions are the overlays, one per region of the example topology.
var regions = []string{"region-a", "region-b"}

func TestYAML_EveryFileParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yamlv3.NewDecoder(bytes.NewReader(b))
		for doc := 1; ; doc++ {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s, document %d: %v", path, doc, err)
				break
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("parsed %d YAML documents under deployments/, want the manifests, overlays and alert rules", n)
	}
}

// built is one overlay's kustomize output, decoded strictly into the
// Kubernetes API's own types: an unknown or misspelt field, a wrong type or
// a bad quantity fails the decoding, as the API server would refuse it.
type built struct {
	deployments     []appsv1.Deployment
	services        []corev1.Service
	configMaps      map[string]corev1.ConfigMap
	secrets         map[string]corev1.Secret
	serviceAccounts map[string]corev1.ServiceAccount
	serviceMonitors []monitoringv1.ServiceMonitor
}

func build(t *testing.T, region string) built {
	t.Helper()
	dir := filepath.Join("kubernetes", "overlays", region)
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := built{configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}, serviceAccounts: map[string]corev1.ServiceAccount{}}
	for _, res := range rm.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind, apiVersion := res.GetKind(), res.GetApiVersion()
		strict := func(obj any, wantAPI string) {
			t.Helper()
			if apiVersion != wantAPI {
				t.Errorf("%s %s: apiVersion %s, want %s", kind, res.GetName(), apiVersion, wantAPI)
			}
			if err := yaml.UnmarshalStrict(y, obj); err != nil {
				t.Errorf("%s %s does not match the API's schema: %v", kind, res.GetName(), err)
			}
		}
		for _, msg := range validation.IsDNS1123Subdomain(res.GetName()) {
			t.Errorf("%s name %q: %s", kind, res.GetName(), msg)
		}
		if res.GetNamespace() != "lifeboat" {
			t.Errorf("%s %s is in namespace %q, want lifeboat", kind, res.GetName(), res.GetNamespace())
		}
		for k, v := range res.GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s %s label %s=%s: %s", kind, res.GetName(), k, v, msg)
			}
		}
		switch kind {
		case "Deployment":
			var d appsv1.Deployment
			strict(&d, "apps/v1")
			b.deployments = append(b.deployments, d)
		case "Service":
			var s corev1.Service
			strict(&s, "v1")
			b.services = append(b.services, s)
		case "ConfigMap":
			var c corev1.ConfigMap
			strict(&c, "v1")
			b.configMaps[c.Name] = c
		case "Secret":
			var s corev1.Secret
			strict(&s, "v1")
			b.secrets[s.Name] = s
		case "ServiceAccount":
			var s corev1.ServiceAccount
			strict(&s, "v1")
			b.serviceAccounts[s.Name] = s
		case "ServiceMonitor":
			var s monitoringv1.ServiceMonitor
			strict(&s, "monitoring.coreos.com/v1")
			b.serviceMonitors = append(b.serviceMonitors, s)
		default:
			t.Errorf("%s %s: a kind this test does not check; add it", kind, res.GetName())
		}
	}
	return b
}

func TestKubernetes_EachOverlayIsItsRegionsWorkers(t *testing.T) {
	for _, region := range regions {
		t.Run(region, func(t *testing.T) {
			b := build(t, region)
			if len(b.deployments) != 1 || len(b.services) != 1 || len(b.serviceMonitors) != 1 {
				t.Fatalf("%d deployments, %d services, %d service monitors; want one each", len(b.deployments), len(b.services), len(b.serviceMonitors))
			}
			d := b.deployments[0]
			if got, want := d.Name, "lifeboat-worker-"+region; got != want {
				t.Errorf("deployment %s, want %s", got, want)
			}
			if got, want := d.Labels["lifeboat.io/task-queue"], schemas.RegionTaskQueue(region); got != want {
				t.Errorf("task-queue label %q, want %q", got, want)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("replicas %v, want at least 2 so a killed pod's work resumes", d.Spec.Replicas)
			}
			sel, err := metaSelector(d.Spec.Selector.MatchLabels)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("the deployment's selector %v does not match its pods %v", sel, d.Spec.Template.Labels)
			}
			if d.Spec.Selector.MatchLabels["lifeboat.io/region"] != region {
				t.Errorf("selector %v does not pin the region: two regions' deployments in one cluster would share pods", d.Spec.Selector.MatchLabels)
			}
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want the worker alone", len(pod.Containers))
			}
			c := pod.Containers[0]
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			if got := env["LIFEBOAT_REGION"].Value; got != region {
				t.Errorf("LIFEBOAT_REGION = %q, want %q", got, region)
			}
			for _, name := range []string{"LIFEBOAT_TEMPORAL_ADDRESS", "LIFEBOAT_NAMESPACE", "LIFEBOAT_LISTEN", "LIFEBOAT_CODEC_KEYS", "LIFEBOAT_PG_PASSWORD"} {
				if _, ok := env[name]; !ok {
					t.Errorf("the worker has no %s", name)
				}
			}
			checkRefs(t, b, pod, env)
			checkTopology(t, b, pod, c, region)
			checkMetrics(t, b, d, c)
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("the worker's container may write its root or escalate: %+v", sc)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("the pod mounts a service account token it never uses")
			}
			if _, ok := b.serviceAccounts[pod.ServiceAccountName]; !ok {
				t.Errorf("service account %q is not in the build", pod.ServiceAccountName)
			}
		})
	}
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return labels.SelectorFromSet(m), nil
}

// checkRefs checks every secret and config map the pod names exists in the
// build with the keys it reads.
func checkRefs(t *testing.T, b built, pod corev1.PodSpec, env map[string]corev1.EnvVar) {
	t.Helper()
	for name, e := range env {
		ref := e.ValueFrom
		if ref == nil || ref.SecretKeyRef == nil {
			continue
		}
		s, ok := b.secrets[ref.SecretKeyRef.Name]
		if !ok {
			t.Errorf("%s reads secret %s, which the build lacks", name, ref.SecretKeyRef.Name)
			continue
		}
		_, has := s.StringData[ref.SecretKeyRef.Key]
		if !has && (ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional) {
			t.Errorf("%s reads key %s of secret %s, which it lacks", name, ref.SecretKeyRef.Key, s.Name)
		}
	}
	for _, v := range pod.Volumes {
		switch {
		case v.Secret != nil:
			if _, ok := b.secrets[v.Secret.SecretName]; !ok {
				t.Errorf("volume %s mounts secret %s, which the build lacks", v.Name, v.Secret.SecretName)
			}
		case v.ConfigMap != nil:
			if _, ok := b.configMaps[v.ConfigMap.Name]; !ok {
				t.Errorf("volume %s mounts config map %s, which the build lacks (a generated name not rewritten?)", v.Name, v.ConfigMap.Name)
			}
		}
	}
}

// checkTopology checks the topology config map is a valid topology holding
// the region, mounted where --topology points, and that the files it names
// are mounted.
func checkTopology(t *testing.T, b built, pod corev1.PodSpec, c corev1.Container, region string) {
	t.Helper()
	i := slices.Index(c.Args, "--topology")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("the worker has no --topology: %v", c.Args)
	}
	path := c.Args[i+1]
	data, mounted := mountedFile(b, pod, c, path)
	if !mounted {
		t.Fatalf("--topology %s is not a file of a mounted config map", path)
	}
	topo, err := schemas.ParseTopology([]byte(data))
	if err != nil {
		t.Fatalf("the topology config map is invalid: %v", err)
	}
	if _, ok := topo.Region(region); !ok {
		t.Errorf("region %s is not in the topology (regions %v)", region, topo.RegionNames())
	}
	if id := topo.Backup.Identity; id != nil && id.File != "" {
		if !underMount(c, id.File) {
			t.Errorf("the age identity %s is not under a mounted volume", id.File)
		}
	}
}

// mountedFile returns the content of the config map key the container sees
// at path.
func mountedFile(b built, pod corev1.PodSpec, c corev1.Container, path string) (string, bool) {
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(path, m.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				d, ok := b.configMaps[v.ConfigMap.Name].Data[key]
				return d, ok
			}
		}
	}
	return "", false
}

func underMount(c corev1.Container, path string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return strings.HasPrefix(path, m.MountPath+"/") })
}

// checkMetrics checks the chain Prometheus follows to a worker's /metrics:
// ServiceMonitor → Service (labels, port name) → pods (selector, port).
func checkMetrics(t *testing.T, b built, d appsv1.Deployment, c corev1.Container) {
	t.Helper()
	svc, sm := b.services[0], b.serviceMonitors[0]
	smSel := labels.SelectorFromSet(sm.Spec.Selector.MatchLabels)
	if !smSel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match service %s labels %v", smSel, svc.Name, svc.Labels)
	}
	if sm.Spec.Selector.MatchLabels["lifeboat.io/region"] == "" {
		t.Error("the ServiceMonitor would scrape every region's workers in a shared cluster")
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("service selector %v does not match the worker pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("%d endpoints", len(sm.Spec.Endpoints))
	}
	port := sm.Spec.Endpoints[0].Port
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == port && p.TargetPort.StrVal == port }) {
		t.Errorf("service %s has no port %q targeting the container's", svc.Name, port)
	}
	var listen string
	for _, e := range c.Env {
		if e.Name == "LIFEBOAT_LISTEN" {
			listen = e.Value
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == port && strings.HasSuffix(listen, fmt.Sprintf(":%d", p.ContainerPort))
	}) {
		t.Errorf("the container's %q port is not where LIFEBOAT_LISTEN=%s serves", port, listen)
	}
	if !strings.HasPrefix(listen, "0.0.0.0:") {
		t.Errorf("LIFEBOAT_LISTEN=%s is not reachable from outside the pod", listen)
	}
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/healthz" || probe.HTTPGet.Port.StrVal != port {
			t.Errorf("probe %+v does not GET /healthz on the metrics port", probe)
		}
	}
}
