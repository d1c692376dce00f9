// Package charttest lints and renders the chart in scripts/helm/firehose-worker
// with Helm's own Go packages, and checks what it renders against the
// Kubernetes API types and against the worker itself. It is a module of its
// own so that Helm and the Kubernetes libraries stay out of the worker's
// go.mod; .ci/run runs it with `cd scripts/helm/test && go test ./...`.
package charttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "../firehose-worker"
	repoRoot  = "../../.."
	namespace = "data"
	release   = "fhw"
)

// cases are the values files every test renders: the defaults and the
// realistic set in the chart's ci/ folder.
var cases = []string{"", "ci/msk-iam-irsa-values.yaml", "ci/scram-secrets-values.yaml", "ci/keda-values.yaml"}

func caseName(file string) string {
	if file == "" {
		return "defaults"
	}
	return strings.TrimSuffix(filepath.Base(file), "-values.yaml")
}

// workerBinary is firehose-worker built from this repository, once.
var workerBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fhw-chart")
	if err != nil {
		panic(err)
	}
	workerBinary = filepath.Join(dir, "firehose-worker")
	build := exec.Command("go", "build", "-o", workerBinary, "./worker")
	build.Dir = repoRoot
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building the worker: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func values(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// objects is what one values file renders, decoded.
type objects struct {
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	dashboard      *corev1.ConfigMap
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor *monitoringv1.ServiceMonitor
	scaledObject   *scaledObject
	kinds          []string
}

// scaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject the chart
// writes, field for field as KEDA's CRD names them; decoding is strict, so a
// misspelt field fails here instead of being pruned by the API server.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name       string `json:"name"`
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// loadChart loads the chart from disk. Helm logs a line each time about
// files/firehose-worker.json, a symbolic link to scripts/grafana/ so that
// the dashboard has one source; the content is used, as in `helm package`.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func render(t *testing.T, vals map[string]any) objects {
	t.Helper()
	ch := loadChart(t)
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return decodeAll(t, ch, files)
}

// decodeAll decodes every rendered document strictly into its API type: a
// field the type does not have is an error, as is a kind the chart is not
// expected to render.
func decodeAll(t *testing.T, ch *chart.Chart, files map[string]string) objects {
	t.Helper()
	var out objects
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for _, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var target any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				out.deployment = &appsv1.Deployment{}
				target = out.deployment
			case "v1 ConfigMap":
				cm := &corev1.ConfigMap{}
				if strings.HasSuffix(name, "dashboard.yaml") {
					out.dashboard = cm
				} else {
					out.configMap = cm
				}
				target = cm
			case "v1 Service":
				out.service = &corev1.Service{}
				target = out.service
			case "v1 ServiceAccount":
				out.serviceAccount = &corev1.ServiceAccount{}
				target = out.serviceAccount
			case "policy/v1 PodDisruptionBudget":
				out.pdb = &policyv1.PodDisruptionBudget{}
				target = out.pdb
			case "autoscaling/v2 HorizontalPodAutoscaler":
				out.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
				target = out.hpa
			case "monitoring.coreos.com/v1 ServiceMonitor":
				out.serviceMonitor = &monitoringv1.ServiceMonitor{}
				target = out.serviceMonitor
			case "keda.sh/v1alpha1 ScaledObject":
				out.scaledObject = &scaledObject{}
				target = out.scaledObject
			default:
				t.Fatalf("%s renders %s %s, which this test does not know", name, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
				t.Errorf("%s: not a valid %s: %v\n%s", name, tm.Kind, err, doc)
			}
			out.kinds = append(out.kinds, tm.Kind)
		}
	}
	return out
}

func TestLint(t *testing.T) {
	for _, file := range cases {
		t.Run(caseName(file), func(t *testing.T) {
			t.Parallel()
			res := lint.AllWithKubeVersion(chartDir, values(t, file), namespace, nil)
			for _, m := range res.Messages {
				// INFO is advice such as "icon is recommended"; a warning or
				// an error fails.
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

func TestRenderedObjects(t *testing.T) {
	for _, file := range cases {
		t.Run(caseName(file), func(t *testing.T) {
			t.Parallel()
			vals := values(t, file)
			o := render(t, vals)
			for what, missing := range map[string]bool{
				"Deployment": o.deployment == nil, "ConfigMap": o.configMap == nil, "Service": o.service == nil,
				"ServiceAccount": o.serviceAccount == nil, "PodDisruptionBudget": o.pdb == nil,
			} {
				if missing {
					t.Fatalf("no %s rendered (kinds: %v)", what, o.kinds)
				}
			}
			cfg := o.configMap.Data["config.yaml"]
			pod := o.deployment.Spec.Template
			c := pod.Spec.Containers[0]

			// The HTTP port: the worker's http.address, the container's port
			// named http, the probes and the Service all agree.
			addr := configString(t, cfg, "http", "address")
			_, portText, _ := strings.Cut(addr, ":")
			port, _ := strconv.Atoi(portText)
			if !strings.HasPrefix(addr, "0.0.0.0:") || port == 0 {
				t.Errorf("http.address = %q, want 0.0.0.0:<port> so the kubelet and Prometheus reach it", addr)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "http" || int(c.Ports[0].ContainerPort) != port {
				t.Errorf("container ports %+v, want one named http on %d", c.Ports, port)
			}
			for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.String() != "http" {
					t.Errorf("probe for %s: %+v", name, p)
				}
			}
			if sp := o.service.Spec.Ports; len(sp) != 1 || int(sp[0].Port) != port || sp[0].TargetPort.String() != "http" {
				t.Errorf("service ports %+v, want %d -> http", sp, port)
			}

			// Grace above shutdown_timeout.
			shutdown, err := time.ParseDuration(configString(t, cfg, "shutdown_timeout"))
			if err != nil {
				t.Fatalf("shutdown_timeout: %v", err)
			}
			if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
				t.Errorf("terminationGracePeriodSeconds %v is not above shutdown_timeout %s", g, shutdown)
			}

			// The soft memory limit comes from the cgroup: 0 in the config,
			// no GOMEMLIMIT, a memory limit set and leaving the worker room.
			if v := configString(t, cfg, "memory", "soft_limit"); v != "0" {
				t.Errorf("memory.soft_limit = %q, want 0 (from the cgroup)", v)
			}
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					t.Errorf("GOMEMLIMIT is set; the soft limit should come from the memory limit")
				}
			}
			memLimit, cpuReq := c.Resources.Limits.Memory(), c.Resources.Requests.Cpu()
			if memLimit.IsZero() || cpuReq.IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
			}
			// 90% of the limit must hold 2x max_buffered_bytes (32 MiB by
			// default), the least the worker accepts for its soft limit.
			if float64(memLimit.Value())*0.9 < 2*32<<20 {
				t.Errorf("memory limit %s leaves a soft limit below 2x memory.max_buffered_bytes", memLimit)
			}

			// Non-root, read-only root filesystem, no privilege escalation.
			psc, sc := pod.Spec.SecurityContext, c.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("security contexts: pod %+v, container %+v", psc, sc)
			}

			// The config rolls the pods when it changes.
			sum := sha256.Sum256([]byte(strings.TrimSuffix(cfg, "\n")))
			if got := pod.Annotations["checksum/config"]; got != hex.EncodeToString(sum[:]) {
				t.Errorf("checksum/config %q is not the SHA-256 of the ConfigMap's config.yaml", got)
			}

			// Spread over zones; the PDB selects the pods.
			ts := pod.Spec.TopologySpreadConstraints
			if len(ts) != 1 || ts[0].TopologyKey != "topology.kubernetes.io/zone" || !selects(ts[0].LabelSelector, pod.Labels) {
				t.Errorf("topology spread %+v", ts)
			}
			if !selects(o.pdb.Spec.Selector, pod.Labels) || !selects(o.deployment.Spec.Selector, pod.Labels) {
				t.Errorf("the PDB or the Deployment does not select the pods")
			}
			if pod.Spec.ServiceAccountName != o.serviceAccount.Name {
				t.Errorf("pods run as %q, the chart's service account is %q", pod.Spec.ServiceAccountName, o.serviceAccount.Name)
			}
			if arn, _ := chartutil.Values(vals).PathValue("serviceAccount.awsRoleArn"); arn != nil && o.serviceAccount.Annotations["eks.amazonaws.com/role-arn"] != arn {
				t.Errorf("service account annotations %v, want the IRSA role %s", o.serviceAccount.Annotations, arn)
			}

			if o.serviceMonitor != nil {
				ep := o.serviceMonitor.Spec.Endpoints
				if len(ep) != 1 || ep[0].Port != "http" || ep[0].Path != "/metrics" || !selects(&o.serviceMonitor.Spec.Selector, o.service.Labels) {
					t.Errorf("service monitor %+v does not scrape the Service's http port", o.serviceMonitor.Spec)
				}
			}
			if o.dashboard != nil {
				want, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "grafana", "firehose-worker.json"))
				if err != nil {
					t.Fatal(err)
				}
				if got := o.dashboard.Data["firehose-worker.json"]; got != strings.TrimRight(string(want), "\n") {
					t.Errorf("the dashboard ConfigMap is not scripts/grafana/firehose-worker.json")
				}
				if o.dashboard.Labels["grafana_dashboard"] != "1" {
					t.Errorf("dashboard labels %v lack grafana_dashboard: \"1\" (the sidecar's default)", o.dashboard.Labels)
				}
			}
			if so := o.scaledObject; so != nil {
				if o.deployment.Spec.Replicas != nil {
					t.Errorf("the Deployment sets replicas although KEDA owns them")
				}
				pv, err := chartutil.Values(vals).PathValue("autoscaling.keda.partitions")
				if err != nil {
					t.Fatal(err)
				}
				parts := int32(pv.(float64))
				if so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount > parts {
					t.Errorf("maxReplicaCount %v exceeds the %d partitions", so.Spec.MaxReplicaCount, parts)
				}
				tr := so.Spec.Triggers
				if len(tr) != 1 || tr[0].Type != "kafka" || tr[0].Metadata["consumerGroup"] != configString(t, cfg, "kafka", "group_id") ||
					so.Spec.ScaleTargetRef.Name != o.deployment.Name {
					t.Errorf("scaled object %+v does not scale the Deployment on its group's lag", so.Spec)
				}
			}
		})
	}
}

// TestRenderedConfigPassesCheck runs `firehose-worker check` on the rendered
// config.yaml in the environment the pod would have: the Deployment's env
// (a placeholder for each value from a Secret) and its Secret mounts (files
// under a temporary folder in place of /etc/firehose-worker/secrets).
func TestRenderedConfigPassesCheck(t *testing.T) {
	for _, file := range cases {
		t.Run(caseName(file), func(t *testing.T) {
			t.Parallel()
			o := render(t, values(t, file))
			cfg, env := podWorld(t, o)
			out, err := runWorker(t, env, "check", "--config", cfg)
			if err != nil {
				t.Fatalf("firehose-worker check on the rendered config: %v\n%s", err, out)
			}
			if !strings.Contains(out, "is valid") {
				t.Errorf("check printed:\n%s", out)
			}
		})
	}
}

// TestProbesHitWhatTheWorkerServes starts the worker on the rendered default
// config (brokers unreachable: it serves health while it retries them) and
// asks it for the probes' paths. Only the listening address is changed, to
// a free local port, so tests on a shared machine do not collide.
func TestProbesHitWhatTheWorkerServes(t *testing.T) {
	o := render(t, values(t, ""))
	cfgPath, env := podWorld(t, o)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	local := regexp.MustCompile(`(?m)^(\s+address: )0\.0\.0\.0:\d+$`).ReplaceAll(data, []byte("${1}127.0.0.1:0"))
	if bytes.Equal(local, data) {
		t.Fatalf("no http.address to rewrite in:\n%s", data)
	}
	if err := os.WriteFile(cfgPath, local, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBinary, "run", "--config", cfgPath)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	addr := ""
	sc := bufio.NewScanner(stderr)
	for addr == "" && sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving metrics and health" {
			addr = line.Address
		}
	}
	if addr == "" {
		t.Fatalf("the worker never logged its health address (%v)", sc.Err())
	}
	go func() { // keep the pipe drained so the worker never blocks on a log write
		for sc.Scan() {
		}
	}()
	c := o.deployment.Spec.Template.Spec.Containers[0]
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		resp, err := http.Get("http://" + addr + p.HTTPGet.Path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// /readyz may rightly answer 503 while no broker answers; a path the
		// worker does not serve answers 404.
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s = %d: the worker does not serve the probe's path", p.HTTPGet.Path, resp.StatusCode)
		}
	}
	if resp, err := http.Get("http://" + addr + "/no-such-path"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /no-such-path = %d; the probe check above proves nothing", resp.StatusCode)
		}
	}
}

// TestChartRefusesWhatBreaksTheFleet: values that would break the fleet
// fail at render time with a message naming the value.
func TestChartRefusesWhatBreaksTheFleet(t *testing.T) {
	for _, c := range []struct {
		name, values, want string
	}{
		{"more replicas than partitions", "autoscaling: {keda: {enabled: true, partitions: 4, maxReplicaCount: 6}}", "exceeds autoscaling.keda.partitions"},
		{"keda without partitions", "autoscaling: {keda: {enabled: true}}", "autoscaling.keda.partitions is required"},
		{"keda and hpa", "autoscaling: {keda: {enabled: true, partitions: 4}, hpa: {enabled: true}}", "enable keda or hpa, not both"},
		{"shutdown_timeout in config", "config: {shutdown_timeout: 5s}", "use shutdownTimeoutSeconds"},
		{"http.address in config", "config: {http: {address: \":1\"}}", "use httpPort"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			vals, err := chartutil.ReadValues([]byte(c.values))
			if err != nil {
				t.Fatal(err)
			}
			ch := loadChart(t)
			rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, chartutil.DefaultCapabilities)
			if err != nil {
				t.Fatal(err)
			}
			_, err = engine.Render(ch, rv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("render error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// podWorld writes the rendered config.yaml where the test can use it, with
// the Secret mounts under a temporary folder (a file per key, or per listed
// item), and returns its path and the container's environment.
func podWorld(t *testing.T, o objects) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	const secrets = "/etc/firehose-worker/secrets/"
	pod := o.deployment.Spec.Template.Spec
	c := pod.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		path, ok := mounts[v.Name]
		if !ok || !strings.HasPrefix(path, secrets) {
			t.Fatalf("secret volume %s is mounted at %q, want a folder under %s", v.Name, path, secrets)
		}
		local := filepath.Join(dir, strings.TrimPrefix(path, secrets))
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		// Without items, every key of the Secret is a file; the test
		// cannot know them, so it writes the files the config names.
		for _, it := range v.Secret.Items {
			writeSecret(t, filepath.Join(local, it.Path))
		}
	}
	cfg := o.configMap.Data["config.yaml"]
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(secrets)+`[\w./-]+`).FindAllString(cfg, -1) {
		writeSecret(t, filepath.Join(dir, strings.TrimPrefix(m, secrets)))
	}
	cfg = strings.ReplaceAll(cfg, secrets, dir+"/")
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env = append(env, e.Name+"=placeholder-from-secret-"+e.ValueFrom.SecretKeyRef.Name)
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		default:
			t.Fatalf("env %s: a source this test does not model", e.Name)
		}
	}
	return path, env
}

func writeSecret(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("placeholder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runWorker(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBinary, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// configString returns the scalar at path in the rendered worker config.
func configString(t *testing.T, cfg string, path ...string) string {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(cfg), &v); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("config.yaml has no %s", strings.Join(path, "."))
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	t.Fatalf("config.yaml %s = %v, want a scalar", strings.Join(path, "."), v)
	return ""
}

func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchLabels) == 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}
