package explorer

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pageNames are the templates besides the layout, one file each.
var pageNames = []string{"log", "entry", "search", "watch", "consistency", "bundle", "error"}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"num":        formatCount,
		"ago":        formatAge,
		"utc":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"hexbytes":   func(b []byte) string { return fmt.Sprintf("%x", b) },
		"b64":        func(b []byte) string { return base64.StdEncoding.EncodeToString(b) },
		"statusText": http.StatusText,
		"last":       func(size uint64) uint64 { return size - 1 },
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("explorer: parsing template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// formatCount writes n with thousands separators: 1,000,000.
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatAge says how long ago d was, coarsely: "3 s", "2 min 5 s", "4 h 10 min".
func formatAge(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
}

// staticName is what may follow /static/: a file name, no directories.
var staticName = regexp.MustCompile(`^[a-z0-9-]+\.(css|js|svg)$`)

var staticTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func extOf(name string) string { return path.Ext(name) }
