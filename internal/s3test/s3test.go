// Package s3test runs a real S3-compatible object store for tests: the
// SeaweedFS weed binary ('weed server' with its S3 gateway, no
// authentication), built by 'make tools' (run by .ci/run). Nothing here is a
// fake: the tests talk S3 over HTTP to the same server operators may run.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
)

// Version is the SeaweedFS module version the Makefile pins.
const Version = "v0.0.0-20261109003541-7506e5f91cd6"

// BinEnv names the weed binary to use instead of the one 'make tools' builds
// in $HOME/.cache/mosaic-tools/seaweedfs-<Version>/weed.
const BinEnv = "MOSAIC_WEED_BIN"

// Credentials are what the tests sign with; the server checks none.
var Credentials = credentials.NewStaticCredentialsProvider("mosaic-test", "mosaic-test-secret", "")

// Weed returns the path of the weed binary, failing t in CI and skipping it
// elsewhere (saying how to build it) when it is missing.
func Weed(t testing.TB) string {
	t.Helper()
	path := os.Getenv(BinEnv)
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "mosaic-tools", "seaweedfs-"+Version, "weed")
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	msg := fmt.Sprintf("SeaweedFS weed not found at %s; build it with 'make tools' (or set %s)", path, BinEnv)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Server is a running weed server with its S3 gateway.
type Server struct {
	// Endpoint is the S3 gateway's base URL, http://127.0.0.1:PORT.
	Endpoint string

	t      testing.TB
	bin    string
	dir    string
	ports  [6]int // master, master gRPC, volume, volume gRPC, filer, filer gRPC
	s3     int
	s3gRPC int

	mu   sync.Mutex // guards cmd, done and log
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// Start starts a weed server for t on free ports, stopped and deleted when
// t ends. Ports are picked below the kernel's ephemeral range, so no
// outgoing connection of a parallel test can take one between the pick and
// weed's bind; if a port is taken anyway (another test's server), weed exits
// saying so and Start tries again on new ports.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Weed(t), dir: t.TempDir()}
	t.Cleanup(s.Stop)
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, len(s.ports)+2)
		copy(s.ports[:], ports)
		s.s3, s.s3gRPC = ports[len(s.ports)], ports[len(s.ports)+1]
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.s3)
		err := s.start()
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("s3test: %v; trying other ports", err)
		s.dir = t.TempDir() // the failed start's data stays behind
	}
}

// Restart starts the server again after Stop, on the same ports and data.
// A port taken meanwhile is waited for (up to 30 s).
func (s *Server) Restart() {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortTaken) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
}

// errPortTaken is start's error when weed could not bind one of its ports.
var errPortTaken = errors.New("a port weed needs is taken")

// start runs weed on s's ports and waits until its S3 gateway works.
func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("s3test: weed is running")
	}
	p := s.ports
	cmd := exec.Command(s.bin, "server", "-dir", s.dir, "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
		"-master.port", strconv.Itoa(p[0]), "-master.port.grpc", strconv.Itoa(p[1]),
		"-volume.port", strconv.Itoa(p[2]), "-volume.port.grpc", strconv.Itoa(p[3]),
		"-filer", "-filer.port", strconv.Itoa(p[4]), "-filer.port.grpc", strconv.Itoa(p[5]),
		"-s3", "-s3.port", strconv.Itoa(s.s3), "-s3.port.grpc", strconv.Itoa(s.s3gRPC),
		"-volume.max", "0", "-master.volumeSizeLimitMB", "64")
	s.log.Reset()
	cmd.Stdout, cmd.Stderr = &lockedWriter{s}, &lockedWriter{s}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("s3test: starting weed: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	s.mu.Unlock()
	err := s.waitReady()
	if err != nil {
		s.Stop()
		if strings.Contains(s.Log(), "address already in use") {
			return fmt.Errorf("%w: %v", errPortTaken, err)
		}
	}
	return err
}

type lockedWriter struct{ s *Server }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.log.Len() < 1<<20 {
		w.s.log.Write(b)
	}
	return len(b), nil
}

// waitReady waits until the S3 gateway stores and returns an object: only
// then are the master, a volume server and the filer all up and joined.
func (s *Server) waitReady() error {
	client := s.Client()
	deadline := time.Now().Add(120 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := probe(ctx, client)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("s3test: weed exited before it was ready: %v\n%s", err, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("s3test: weed's S3 gateway not ready after 120 s: %v\n%s", err, s.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// probe writes and reads back an object in a bucket of its own.
func probe(ctx context.Context, client *s3.Client) error {
	name := aws.String("s3test-ready")
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: name}); err != nil {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: name}); err != nil {
			return err
		}
	}
	key := aws.String(strconv.FormatInt(time.Now().UnixNano(), 10))
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: name, Key: key, Body: bytes.NewReader([]byte("ok"))}); err != nil {
		return err
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: name, Key: key})
	if err != nil {
		return err
	}
	return out.Body.Close()
}

// Log returns what weed wrote (the first MiB).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop stops the server (all its processes) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Client is a raw S3 client of the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: Credentials, HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
}

// NewBucket creates a fresh bucket and returns its configuration, with the
// test credentials and prefix "log".
func (s *Server) NewBucket(t testing.TB) bucket.Config {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", time.Now().UnixNano(), bucketSeq.next())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("s3test: creating bucket %s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return bucket.Config{Bucket: name, Prefix: "log", Endpoint: s.Endpoint, Region: "us-east-1", PathStyle: true, Credentials: Credentials}
}

// URL is cfg as the --tiles flag spells it.
func URL(cfg bucket.Config) string { return cfg.String() }

// Env is the environment a mosaicd child process needs to sign requests to
// the server (any credentials do).
func Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=mosaic-test", "AWS_SECRET_ACCESS_KEY=mosaic-test-secret", "AWS_REGION=us-east-1"}
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) next() int { c.mu.Lock(); defer c.mu.Unlock(); c.n++; return c.n }

var bucketSeq counter

// freePorts returns n distinct ports that were free a moment ago, picked at
// random below the kernel's ephemeral range (32768 and up on Linux), where
// no outgoing connection is given one.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("s3test: no %d free ports in 20000-32767 after %d tries", n, tries)
		}
		port := 20000 + rand.IntN(12768)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		held = append(held, l)
		ports = append(ports, port)
	}
	return ports
}
