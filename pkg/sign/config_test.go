package sign

import (
	"context"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/client"
)

func TestNewRefusesBadConfigs(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no log":        {CAURL: "http://ca"},
		"bad log URL":   {LogURLs: []string{"ftp://log"}},
		"bad CA URL":    {CAURL: "ca", LogURLs: []string{"http://log"}},
		"bad TSA URL":   {LogURLs: []string{"http://log"}, TSAURLs: []string{"tsa"}},
		"bad algorithm": {LogURLs: []string{"http://log"}, KeyAlgorithm: "rsa"},
		"bad option":    {LogURLs: []string{"http://log"}, ClientOptions: []client.Option{client.WithMaxAttempts(0)}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := New(Config{LogURLs: []string{"http://log"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignKeyless(context.Background(), "a.b.c", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "needs a CA") {
		t.Errorf("keyless without a CA: %v", err)
	}
	if _, err := s.SignWithKey(context.Background(), nil, strings.NewReader("x")); err == nil {
		t.Error("signing with a nil key was attempted")
	}
}
