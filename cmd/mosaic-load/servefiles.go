package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const serveFilesUsage = `usage: mosaic-load serve-files --dir DIR --listen ADDR [--memory]

Serves a tlog-tiles directory (the data directory of mosaicd's embedded
store: checkpoint, tile/...) under /api/v2/ as a plain static web server
would, so that mosaic-load read can run against it: the reference that
bench-load compares mosaicd's checkpoint, tile and entry bundle reads with
on the same machine. It is not a log server: it serves files, nothing else.

By default it is Go's net/http FileServer on the directory (an open, a stat
and a sendfile per answer, as a static deployment does). With --memory each
file is read once, on its first request, and then answered from memory with
only a Content-Length: about the least a Go HTTP server can do per answer.

flags:
`

func runServeFiles(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mosaic-load serve-files", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, serveFilesUsage)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "the tlog-tiles directory to serve (required)")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	memory := fs.Bool("memory", false, "answer from memory (each file read once) instead of from the directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mosaic-load serve-files: --dir is required and takes no arguments")
		return 2
	}
	if _, err := os.Stat(filepath.Join(*dir, "checkpoint")); err != nil {
		fmt.Fprintf(stderr, "mosaic-load serve-files: %s is not a tlog-tiles directory: %v\n", *dir, err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load serve-files: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: filesHandler(*dir, *memory)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stdout, "mosaic-load serve-files: serving %s at http://%s/api/v2/\n", *dir, ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "mosaic-load serve-files: %v\n", err)
		return 1
	}
	return 0
}

// filesHandler serves dir under /api/v2/, with /healthz for start-up.
func filesHandler(dir string, memory bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	if memory {
		mux.Handle("GET /api/v2/", &memoryFiles{dir: dir, files: map[string][]byte{}})
	} else {
		mux.Handle("GET /api/v2/", http.StripPrefix("/api/v2", http.FileServer(http.Dir(dir))))
	}
	return mux
}

// memoryFiles answers each file of dir from memory, read on its first
// request. The directory must not change while it serves.
type memoryFiles struct {
	dir   string
	mu    sync.RWMutex
	files map[string][]byte
}

func (m *memoryFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := path.Clean(strings.TrimPrefix(r.URL.Path, "/api/v2/"))
	m.mu.RLock()
	body, ok := m.files[name]
	m.mu.RUnlock()
	if !ok {
		if !filepath.IsLocal(name) {
			http.Error(w, "not a file of the log", http.StatusNotFound)
			return
		}
		var err error
		if body, err = os.ReadFile(filepath.Join(m.dir, filepath.FromSlash(name))); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		m.mu.Lock()
		m.files[name] = body
		m.mu.Unlock()
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}
