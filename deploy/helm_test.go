package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/servingcert/servingcerttest"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/internal/tlog"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const chart = "helm/mosaic"

// TestHelmChart lints the chart and renders it with the default values
// and with values-keyless.yaml, then decodes every rendered object
// strictly into its Kubernetes API type (an unknown or misspelled field,
// or a value of the wrong type, fails) and checks what the chart promises.
func TestHelmChart(t *testing.T) {
	helm := tool(t, "helm", helmVersion)
	for _, tc := range []struct {
		name   string
		values []string
		want   []string // kinds expected
	}{
		{"default", nil, []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}},
		{"keyless", []string{"-f", chart + "/values-keyless.yaml"},
			[]string{"ConfigMap", "ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"}},
		{"objectstore", []string{"-f", chart + "/values-objectstore.yaml"},
			[]string{"ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service", "ServiceAccount"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, helm, append([]string{"lint", "--strict", chart}, tc.values...)...)
			out := run(t, helm, append([]string{"template", "mosaic", chart, "--namespace", "log"}, tc.values...)...)
			objs := decodeAll(t, out)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.kind)
			}
			if got, want := strings.Join(sorted(kinds), ","), strings.Join(tc.want, ","); got != want {
				t.Errorf("rendered kinds %s, want %s", got, want)
			}
			checkChart(t, objs, tc.name == "keyless")
			checkChartObjectStore(t, objs, tc.name == "objectstore")
		})
	}
}

// TestHelmChartRefuses: the chart fails to render without what it needs.
func TestHelmChartRefuses(t *testing.T) {
	helm := tool(t, "helm", helmVersion)
	for _, tc := range []struct{ set, want string }{
		{"signingKey.existingSecret=", "signingKey.existingSecret"},
		{"publicURL=", "publicURL is required"},
		{"keyless.enabled=true,keyless.existingSecret=k", "keyless.oidcIssuers"},
		{"database.url=file:/data", ""}, // one replica is the default's minimum
		{"replicaCount=2,database.url=file:/data", `replicaCount 2 with the embedded store (database.url "file:/data")`},
		{"replicaCount=1,database.url=file:/data,tiles.url=s3://b/p", "tiles.url needs PostgreSQL"},
		{"tiles.publicURL=https://cdn.example.com", "tiles.publicURL needs tiles.url"},
		{"tiles.credentialsSecret=s3", "tiles.credentialsSecret needs tiles.url"},
	} {
		if tc.want == "" {
			// replicaCount defaults to 2: the embedded store is refused
			// even when only the URL is changed.
			tc.want = "replicaCount 2 with the embedded store"
		}
		out, err := exec.Command(helm, "template", "mosaic", chart, "--set", tc.set).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("--set %s: %v, %s; want a failure naming %q", tc.set, err, out, tc.want)
		}
	}
}

type object struct {
	kind, name string
	obj        any
}

// decodeAll splits helm's output into documents and decodes each strictly
// into the Go type of its apiVersion and kind.
func decodeAll(t *testing.T, out []byte) []object {
	t.Helper()
	var objs []object
	for _, doc := range bytes.Split(out, []byte("\n---")) {
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if meta.Kind == "" {
			continue // a comment-only document
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "batch/v1 Job":
			obj = &batchv1.Job{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = &monitoringv1.ServiceMonitor{}
		default:
			t.Fatalf("rendered %s %s, which the test does not know", meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s %s does not match its API type: %v", meta.Kind, meta.Metadata.Name, err)
		}
		if meta.Metadata.Name == "" || len(meta.Metadata.Name) > 63 {
			t.Errorf("%s has name %q", meta.Kind, meta.Metadata.Name)
		}
		objs = append(objs, object{meta.Kind, meta.Metadata.Name, obj})
	}
	return objs
}

// checkChart checks the promises of deploy/README.md on the rendered
// objects: non-root, read-only, probes, keys through install-keys, every
// variable a mosaicd flag's, references that resolve.
func checkChart(t *testing.T, objs []object, keyless bool) {
	byName := map[string]any{}
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, o := range objs {
		byName[o.kind+"/"+o.name] = o.obj
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			dep = v
		case *corev1.Service:
			svc = v
		}
	}
	spec := dep.Spec.Template.Spec
	if got := dep.Spec.Template.Labels; !matches(dep.Spec.Selector.MatchLabels, got) || !matches(svc.Spec.Selector, got) {
		t.Errorf("selectors %v, %v do not select the pods %v", dep.Spec.Selector.MatchLabels, svc.Spec.Selector, got)
	}
	if *dep.Spec.Replicas < 2 {
		t.Errorf("replicas %d", *dep.Spec.Replicas)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod security context %+v, want non-root 65532", psc)
	}
	c := spec.Containers[0]
	for _, ct := range append(spec.InitContainers, spec.Containers...) {
		sc := ct.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
			*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s: security context %+v", ct.Name, sc)
		}
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", p)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 3000 {
		t.Errorf("ports %+v, want 3000", c.Ports)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}
	if want := map[bool]int{false: 1, true: 2}[keyless]; len(spec.InitContainers) != want {
		t.Errorf("%d init containers, want %d (install-keys per Secret)", len(spec.InitContainers), want)
	}
	for _, ic := range spec.InitContainers {
		if len(ic.Command) != 3 || ic.Command[0] != "/install-keys" || !strings.HasPrefix(ic.Command[2], "/keys/") {
			t.Errorf("init container %s runs %q", ic.Name, ic.Command)
		}
	}
	cm, ok := byName["ConfigMap/"+c.EnvFrom[0].ConfigMapRef.Name].(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("the Deployment's ConfigMap %s is not rendered", c.EnvFrom[0].ConfigMapRef.Name)
	}
	var names []string
	for k := range cm.Data {
		names = append(names, k)
	}
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	checkEnvNames(t, "ConfigMap "+cm.Name, names)
	if keyless != (cm.Data["MOSAIC_KEYLESS_DIR"] != "") {
		t.Errorf("MOSAIC_KEYLESS_DIR=%q with keyless=%v", cm.Data["MOSAIC_KEYLESS_DIR"], keyless)
	}
	checkChartTLS(t, spec, cm, keyless)
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		wp, ok := byName["ConfigMap/"+v.ConfigMap.Name].(*corev1.ConfigMap)
		if !ok {
			t.Errorf("volume %s names ConfigMap %s, not rendered", v.Name, v.ConfigMap.Name)
			continue
		}
		if _, err := tlog.ParseWitnessPolicy([]byte(wp.Data["witness-policy"])); err != nil {
			t.Errorf("ConfigMap %s: the witness policy does not parse: %v", wp.Name, err)
		}
	}
	checkServeAccepts(t, cm.Data, keyless)
}

// checkChartObjectStore: with values-objectstore.yaml the frontends read
// the database URL and the S3 credentials from Secrets under the names
// mosaicd and the AWS SDK read, the migration Job the same URL, and --tiles
// is a bucket URL mosaicd parses; without it none of that is rendered.
func checkChartObjectStore(t *testing.T, objs []object, want bool) {
	t.Helper()
	var dep *appsv1.Deployment
	var job *batchv1.Job
	var cm *corev1.ConfigMap
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			dep = v
		case *batchv1.Job:
			job = v
		case *corev1.ConfigMap:
			if _, ok := v.Data["MOSAIC_LISTEN"]; ok {
				cm = v
			}
		}
	}
	secretEnv := map[string]string{} // name -> secret/key
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secretEnv[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	_, tiles := cm.Data["MOSAIC_TILES"]
	if !want {
		if tiles || secretEnv["AWS_ACCESS_KEY_ID"] != "" || secretEnv["MOSAIC_STORAGE"] != "" {
			t.Errorf("tiles %v, secret variables %v without values-objectstore.yaml", tiles, secretEnv)
		}
		return
	}
	if *dep.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *dep.Spec.Replicas)
	}
	if _, err := bucket.ParseURL(cm.Data["MOSAIC_TILES"]); err != nil {
		t.Errorf("MOSAIC_TILES: %v", err)
	}
	if u := cm.Data["MOSAIC_TILES_PUBLIC_URL"]; !strings.HasPrefix(u, "https://") {
		t.Errorf("MOSAIC_TILES_PUBLIC_URL %q", u)
	}
	if s, ok := cm.Data["MOSAIC_STORAGE"]; ok {
		t.Errorf("the ConfigMap holds MOSAIC_STORAGE %q; the URL (with its password) belongs in the Secret", s)
	}
	for name, ref := range map[string]string{"MOSAIC_STORAGE": "mosaic-database/url",
		"AWS_ACCESS_KEY_ID": "mosaic-s3/AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "mosaic-s3/AWS_SECRET_ACCESS_KEY"} {
		if secretEnv[name] != ref {
			t.Errorf("frontends: %s from %q, want Secret %s", name, secretEnv[name], ref)
		}
	}
	if job == nil {
		t.Fatal("no migration Job")
	}
	var jobStorage string
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "MOSAIC_STORAGE" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			jobStorage = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if jobStorage != secretEnv["MOSAIC_STORAGE"] {
		t.Errorf("the migration Job's MOSAIC_STORAGE comes from %q, the frontends' from %q", jobStorage, secretEnv["MOSAIC_STORAGE"])
	}
}

// checkChartTLS: with tls.existingSecret (the keyless example sets it),
// mosaicd reads the certificate from the Secret mounted as it is (so that
// a renewal reaches it), and the probes speak HTTPS.
func checkChartTLS(t *testing.T, spec corev1.PodSpec, cm *corev1.ConfigMap, tls bool) {
	t.Helper()
	cert, key := cm.Data["MOSAIC_TLS_CERT"], cm.Data["MOSAIC_TLS_KEY"]
	if tls != (cert != "") || (cert == "") != (key == "") {
		t.Errorf("MOSAIC_TLS_CERT=%q MOSAIC_TLS_KEY=%q with TLS %v", cert, key, tls)
	}
	c := spec.Containers[0]
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := corev1.URISchemeHTTP
		if tls {
			want = corev1.URISchemeHTTPS
		}
		if got := p.HTTPGet.Scheme; got != want && !(got == "" && !tls) {
			t.Errorf("%s probe scheme %q, want %q", name, got, want)
		}
	}
	if !tls {
		return
	}
	var mounted string
	for _, m := range c.VolumeMounts {
		if m.Name == "tls" {
			mounted = m.MountPath
		}
	}
	for _, v := range spec.Volumes {
		if v.Name == "tls" && (v.Secret == nil || v.Secret.SecretName == "" || mounted == "" ||
			cert != mounted+"/tls.crt" || key != mounted+"/tls.key") {
			t.Errorf("TLS volume %+v mounted at %q, but mosaicd reads %s and %s", v, mounted, cert, key)
		}
	}
	if mounted == "" {
		t.Errorf("no TLS Secret mounted into mosaicd")
	}
}

// checkServeAccepts runs this tree's mosaicd serve with the ConfigMap's
// variables, the key paths pointed at real files, on a log directory that
// does not exist: every value must parse (a bad one is a usage error, exit
// 2), and mosaicd must get as far as refusing the missing log. With
// MOSAIC_TILES (which needs PostgreSQL) the database is one nobody listens
// for, and mosaicd must get as far as checking the bucket, which it does
// first and cannot reach from here.
func checkServeAccepts(t *testing.T, data map[string]string, keyless bool) {
	dir := t.TempDir()
	bin := mosaicd(t)
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	_, tiles := data["MOSAIC_TILES"]
	want := "no log at"
	if tiles {
		want = "bucket: checking s3://"
		// The URL may come from a Secret, outside data.
		env = append(env, "MOSAIC_STORAGE=postgres://mosaic@127.0.0.1:1/mosaic?sslmode=disable&connect_timeout=2")
	}
	for k, v := range data {
		switch k {
		case "MOSAIC_STORAGE":
			if tiles {
				continue
			}
			v = "file:" + filepath.Join(dir, "no-log")
		case "MOSAIC_SIGNING_KEY":
			v = filepath.Join(dir, "signing-key.pem")
			run(t, bin, "keygen", "--out", v, "--origin", "example.com")
		case "MOSAIC_KEYLESS_DIR":
			v = filepath.Join(dir, "keyless")
			run(t, bin, "ca", "init", "--dir", v)
		case "MOSAIC_WITNESS_POLICY":
			v = filepath.Join(dir, "witness-policy")
		case "MOSAIC_TLS_CERT", "MOSAIC_TLS_KEY":
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			if _, err := os.Stat(certFile); err != nil {
				servingcerttest.NewCA(t).Issue(t, time.Hour).Write(t, certFile, keyFile)
			}
			v = map[string]string{"MOSAIC_TLS_CERT": certFile, "MOSAIC_TLS_KEY": keyFile}[k]
		}
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 1 || !bytes.Contains(out, []byte(want)) {
		t.Errorf("mosaicd serve with the chart's settings (keyless %v): exit %d, %s; want exit 1 and %q", keyless, code, out, want)
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
