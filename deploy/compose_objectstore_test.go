package deploy

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
)

// pinnedImage is an image reference with a version tag (not latest, not
// untagged), as the default of a ${VAR:-default}.
var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:[0-9]+(\.[0-9]+)+(-[a-z0-9]+)?$`)

// TestComposeObjectStore loads compose/objectstore.yaml (several frontends
// behind nginx, on PostgreSQL and a SeaweedFS bucket) with compose-go and
// checks what several frontends need: one service scaled (no host port,
// no container name), every replica with the same database, bucket, key
// and origin, nothing written to local disk, the bucket created before
// they start with the credentials the object store accepts, and a load
// balancer that routes to every replica under the public URL.
func TestComposeObjectStore(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"compose/objectstore.yaml"}, cli.WithName("mosaic-objectstore"),
		cli.WithEnv([]string{"MOSAIC_UID=1000", "MOSAIC_GID=1000", "S3_ACCESS_KEY=AK", "S3_SECRET_KEY=SK"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose/objectstore.yaml: %v", err)
	}
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "bucket,lb,migrate,mosaicd,postgres,seaweedfs" {
		t.Fatalf("services %s", got)
	}
	for _, n := range []string{"postgres", "seaweedfs", "lb"} {
		if hc := p.Services[n].HealthCheck; hc == nil || len(hc.Test) < 2 {
			t.Errorf("%s has no health check", n)
		}
	}
	for _, n := range []string{"seaweedfs", "bucket", "lb"} {
		if img := p.Services[n].Image; !pinnedImage.MatchString(img) {
			t.Errorf("%s: image %q is not pinned by a version tag", n, img)
		}
	}

	fe := p.Services["mosaicd"]
	env := map[string]string{}
	var keys []string
	for k, v := range fe.Environment {
		env[k] = *v
		keys = append(keys, k)
	}
	checkEnvNames(t, "compose mosaicd", keys)
	checkScalable(t, fe)
	checkObjectStore(t, p, env)
	checkBalancer(t, p, env["MOSAIC_PUBLIC_URL"])

	mig := p.Services["migrate"]
	if env["MOSAIC_STORAGE"] != *mig.Environment["MOSAIC_STORAGE"] || !strings.HasPrefix(env["MOSAIC_STORAGE"], "postgres://") {
		t.Errorf("storage %q, migrated %q: the frontends must share the one database migrated", env["MOSAIC_STORAGE"], *mig.Environment["MOSAIC_STORAGE"])
	}
	if fe.DependsOn["migrate"].Condition != types.ServiceConditionCompletedSuccessfully ||
		fe.DependsOn["bucket"].Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("the frontends must wait for the migration and the bucket: %+v", fe.DependsOn)
	}
	if strings.Join(fe.Command, " ") != "serve" || fe.User != "1000:1000" || env["MOSAIC_AUTO_MIGRATE"] != "false" {
		t.Errorf("mosaicd: command %q, user %q, auto-migrate %q", fe.Command, fe.User, env["MOSAIC_AUTO_MIGRATE"])
	}
	delete(env, "PGPASSWORD")
	checkServeAccepts(t, env, false)
}

// checkScalable: the frontends are one service with two replicas by
// default, which --scale can change because nothing ties a replica to the
// host (no published port, no container name), and every replica mounts
// the same key file read-only and writes nowhere but a tmpfs.
func checkScalable(t *testing.T, fe types.ServiceConfig) {
	t.Helper()
	if fe.Deploy == nil || fe.Deploy.Replicas == nil || *fe.Deploy.Replicas != 2 {
		t.Errorf("mosaicd: deploy %+v, want 2 replicas by default", fe.Deploy)
	}
	if len(fe.Ports) != 0 || fe.ContainerName != "" {
		t.Errorf("mosaicd: ports %+v, container name %q: a replica tied to the host cannot be scaled", fe.Ports, fe.ContainerName)
	}
	if !fe.ReadOnly || len(fe.Tmpfs) != 1 || fe.Tmpfs[0] != "/tmp" {
		t.Errorf("mosaicd: read-only %v, tmpfs %q; want a read-only root and /tmp only", fe.ReadOnly, fe.Tmpfs)
	}
	if len(fe.Volumes) != 1 {
		t.Fatalf("mosaicd: volumes %+v, want the key alone", fe.Volumes)
	}
	v := fe.Volumes[0]
	key := fe.Environment["MOSAIC_SIGNING_KEY"]
	if v.Type != types.VolumeTypeBind || !v.ReadOnly || key == nil || v.Target != *key || !strings.HasSuffix(v.Source, "/compose/signing-key.pem") {
		t.Errorf("mosaicd: volume %+v, key %v; want the one key file, bind-mounted read-only where MOSAIC_SIGNING_KEY points", v, key)
	}
}

// checkObjectStore: --tiles names the bucket the bucket service creates,
// on the SeaweedFS service's S3 port, and the frontends sign with the
// identity SeaweedFS is configured with.
func checkObjectStore(t *testing.T, p *types.Project, env map[string]string) {
	t.Helper()
	cfg, err := bucket.ParseURL(env["MOSAIC_TILES"])
	if err != nil {
		t.Fatalf("MOSAIC_TILES: %v", err)
	}
	sw, mk := p.Services["seaweedfs"], p.Services["bucket"]
	if cfg.Endpoint != "http://seaweedfs:8333" || !cfg.PathStyle || cfg.Region == "" || cfg.Prefix == "" {
		t.Errorf("--tiles %+v: want the seaweedfs service's S3 port 8333, path style, a region and a prefix", cfg)
	}
	if got := strings.Join(sw.Command, " "); !strings.HasPrefix(got, "server ") || !strings.Contains(got, " -s3 ") ||
		!strings.Contains(got, "-s3.port=8333") || !strings.Contains(got, "-s3.config=/etc/seaweedfs/s3.json") {
		t.Errorf("seaweedfs: command %q, want server -s3 on 8333 with the identities file", got)
	}
	// The bucket is made with a PUT signed as the frontends' identity
	// (weed shell's s3.bucket.create did not return in a test here).
	got := strings.Join(mk.Command, " ")
	if !strings.Contains(got, "-X PUT "+cfg.Endpoint+"/"+cfg.Bucket+")") || !strings.Contains(got, "--aws-sigv4 aws:amz:"+cfg.Region+":s3") ||
		!strings.Contains(got, `--user "$S3_ACCESS_KEY:$S3_SECRET_KEY"`) || *mk.Environment["S3_ACCESS_KEY"] != "AK" || *mk.Environment["S3_SECRET_KEY"] != "SK" ||
		mk.DependsOn["seaweedfs"].Condition != types.ServiceConditionHealthy || mk.Image != sw.Image {
		t.Errorf("bucket: %q on %+v with %q; want a signed PUT of %s/%s once seaweedfs is healthy, with its image", got, mk.DependsOn, mk.Image, cfg.Endpoint, cfg.Bucket)
	}
	if len(sw.Configs) != 1 || sw.Configs[0].Target != "/etc/seaweedfs/s3.json" {
		t.Fatalf("seaweedfs: configs %+v, want the identities at /etc/seaweedfs/s3.json", sw.Configs)
	}
	var ids struct {
		Identities []struct {
			Name        string `json:"name"`
			Credentials []struct {
				AccessKey string `json:"accessKey"`
				SecretKey string `json:"secretKey"`
			} `json:"credentials"`
			Actions []string `json:"actions"`
		} `json:"identities"`
	}
	dec := json.NewDecoder(strings.NewReader(p.Configs[sw.Configs[0].Source].Content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ids); err != nil {
		t.Fatalf("the s3.json SeaweedFS reads: %v", err)
	}
	if len(ids.Identities) != 1 || len(ids.Identities[0].Credentials) != 1 {
		t.Fatalf("s3.json: %+v, want one identity with one key", ids)
	}
	id := ids.Identities[0]
	if c := id.Credentials[0]; c.AccessKey != "AK" || c.SecretKey != "SK" || env["AWS_ACCESS_KEY_ID"] != "AK" || env["AWS_SECRET_ACCESS_KEY"] != "SK" {
		t.Errorf("SeaweedFS accepts %s/%s, the frontends sign with %s/%s; want both from S3_ACCESS_KEY/S3_SECRET_KEY",
			c.AccessKey, c.SecretKey, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
	}
	if got := strings.Join(id.Actions, ","); got != "Admin,Read,Write,List,Tagging" { // Admin: the bucket service creates the bucket
		t.Errorf("the frontends' identity may %s", got)
	}
}

// checkBalancer: the public URL is the load balancer's published port,
// and nginx sends to every replica of the mosaicd service, re-resolving
// the name so that a later --scale is seen.
func checkBalancer(t *testing.T, p *types.Project, publicURL string) {
	t.Helper()
	lb := p.Services["lb"]
	if len(lb.Ports) != 1 || lb.Ports[0].HostIP != "127.0.0.1" || "http://127.0.0.1:"+lb.Ports[0].Published != publicURL {
		t.Fatalf("lb: ports %+v; want one on 127.0.0.1 answering at the public URL %s", lb.Ports, publicURL)
	}
	if lb.DependsOn["mosaicd"].Condition != types.ServiceConditionStarted {
		t.Errorf("lb: depends on %+v", lb.DependsOn)
	}
	if len(lb.Volumes) != 1 || lb.Volumes[0].Target != "/etc/nginx/nginx.conf" || !lb.Volumes[0].ReadOnly {
		t.Fatalf("lb: volumes %+v, want nginx.conf", lb.Volumes)
	}
	conf, err := os.ReadFile("compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^\s*resolver 127\.0\.0\.11 valid=\d+s`,                                  // Docker's DNS, re-read
		`(?s)upstream mosaicd \{[^}]*\bzone mosaicd `,                                // the shared state resolve needs
		`(?s)upstream mosaicd \{[^}]*\bserver mosaicd:3000 resolve[ ;]`,              // every replica, as they come and go
		`(?m)^\s*listen ` + strconv.FormatUint(uint64(lb.Ports[0].Target), 10) + `;`, // the published port
		`(?s)location / \{[^}]*proxy_pass http://mosaicd;`,                           // everything goes to the frontends
		`(?s)location / \{[^}]*proxy_read_timeout (6\d|[1-9]\d\d)s;`,                 // beyond --add-timeout (30 s)
		`(?s)location / \{[^}]*proxy_set_header Host \$http_host;`,                   // the log's own host name
	} {
		if !regexp.MustCompile(want).Match(conf) {
			t.Errorf("compose/nginx.conf does not match %s", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^\s*server [^{]`).FindAll(conf, -1)); n != 1 {
		t.Errorf("compose/nginx.conf names %d upstream servers, want the one service name", n)
	}
}
