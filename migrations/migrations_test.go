package migrations

import "testing"

func TestAllOrderedAndContiguous(t *testing.T) {
	ms, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d is %q (version %d); versions must be 1, 2, 3, ... without gaps", i, m.Name, m.Version)
		}
		if m.SQL == "" {
			t.Errorf("migration %q is empty", m.Name)
		}
	}
	latest, err := Latest()
	if err != nil {
		t.Fatal(err)
	}
	if latest != ms[len(ms)-1].Version {
		t.Errorf("Latest() = %d, want %d", latest, ms[len(ms)-1].Version)
	}
}
