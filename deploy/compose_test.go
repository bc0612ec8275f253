package deploy

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestCompose loads compose/compose.yaml with compose-go, the loader
// Docker Compose itself uses (schema validation, interpolation, merging of
// the anchors), and checks the production shape: PostgreSQL, a one-shot
// migration, two frontends on one database and key with distinct ports,
// every MOSAIC_ variable a mosaicd serve flag's, and mosaicd serve
// accepting the frontends' settings. No container runs: CI has no daemon.
func TestCompose(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"compose/compose.yaml"}, cli.WithName("mosaic"),
		cli.WithEnv([]string{"MOSAIC_UID=1000", "MOSAIC_GID=1000"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose/compose.yaml: %v", err)
	}
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "migrate,mosaicd-a,mosaicd-b,postgres" {
		t.Fatalf("services %s", got)
	}
	mig := p.Services["migrate"]
	if strings.Join(mig.Command, " ") != "migrate" || mig.DependsOn["postgres"].Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate: command %q, depends on %+v", mig.Command, mig.DependsOn)
	}
	ports := map[uint32]bool{}
	for _, n := range []string{"mosaicd-a", "mosaicd-b"} {
		s := p.Services[n]
		if strings.Join(s.Command, " ") != "serve" || s.User != "1000:1000" || !s.ReadOnly {
			t.Errorf("%s: command %q user %q read-only %v", n, s.Command, s.User, s.ReadOnly)
		}
		if s.DependsOn["migrate"].Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s does not wait for the migration: %+v", n, s.DependsOn)
		}
		for _, port := range s.Ports {
			if port.Target != 3000 || ports[mustPort(t, port.Published)] {
				t.Errorf("%s: port %+v", n, port)
			}
			ports[mustPort(t, port.Published)] = true
		}
		env := map[string]string{}
		var keys []string
		for k, v := range s.Environment {
			env[k] = *v
			keys = append(keys, k)
		}
		checkEnvNames(t, "compose "+n, keys)
		if env["MOSAIC_STORAGE"] != *mig.Environment["MOSAIC_STORAGE"] || env["MOSAIC_PUBLIC_URL"] != "http://127.0.0.1:3000" {
			t.Errorf("%s: storage %q public URL %q: the frontends must share one database and origin", n, env["MOSAIC_STORAGE"], env["MOSAIC_PUBLIC_URL"])
		}
		delete(env, "PGPASSWORD")
		checkServeAccepts(t, env, false)
	}
	if len(ports) != 2 {
		t.Errorf("published ports %v, want two", ports)
	}
}

func mustPort(t *testing.T, s string) uint32 {
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("port %q", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}
