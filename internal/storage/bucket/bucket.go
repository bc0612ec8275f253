// Package bucket keeps a log's public resources (hash tiles, entry bundles,
// identity tiles and the published checkpoint) in an S3-compatible bucket,
// named on mosaicd's command line by --tiles s3://BUCKET/PREFIX?endpoint=…&region=….
//
// Objects are written whole with one PutObject each and carry the HTTP
// headers of C2SP tlog-tiles, so that the bucket, or a CDN in front of it,
// can serve them to readers directly: tiles and bundles are immutable (a
// partial one's path names its width, so its bytes never change either),
// the checkpoint may be cached for a few seconds only. Credentials come from
// the standard AWS chain (environment, shared config and credentials files,
// web identity, container and instance roles); the bucket must exist.
package bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Cache-Control of the objects written (C2SP tlog-tiles).
const (
	ImmutableCacheControl  = "public, max-age=31536000, immutable"
	CheckpointCacheControl = "public, max-age=1"
)

// Config names a bucket and where in it a log's objects go.
type Config struct {
	Bucket string
	// Prefix is prepended, with a '/', to every key; "" for the bucket's root.
	Prefix string
	// Endpoint is the S3 service's base URL (http or https); "" for AWS.
	Endpoint string
	// Region is the bucket's region; "" takes the AWS chain's, or
	// "us-east-1" when an Endpoint is given and the chain names none.
	Region string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET rather than as
	// BUCKET.ENDPOINT; the default with an Endpoint.
	PathStyle bool
	// Credentials replaces the AWS chain (tests); nil uses the chain.
	Credentials aws.CredentialsProvider
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds each request to the bucket.
const DefaultTimeout = 10 * time.Second

// Bucket is an opened bucket, scoped to a key prefix. Safe for concurrent
// use.
type Bucket struct {
	client  *s3.Client // shared by Sub-buckets; safe for concurrent use
	name    string
	prefix  string // "" or ending in '/'
	where   string // s3://bucket/prefix for messages
	timeout time.Duration
}

// Open connects to the bucket cfg names and checks, with one request, that
// it exists and answers.
func Open(ctx context.Context, cfg Config) (*Bucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("bucket: no bucket name")
	}
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(cfg.Credentials))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bucket: loading AWS configuration: %w", err)
	}
	if ac.Region == "" {
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("bucket: no region for s3://%s: add ?region=… to the s3:// URL or set AWS_REGION", cfg.Bucket)
		}
		ac.Region = "us-east-1"
	}
	client := s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// The SDK's retry quota would, after an outage of the object store,
		// refuse requests for a while after it came back; integration
		// retries with its own backoff.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.RateLimiter = ratelimit.None })
		// Checksums on every request are optional for S3-compatible servers,
		// and some refuse the newer ones.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	b := &Bucket{client: client, name: cfg.Bucket, timeout: cfg.Timeout}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	b = b.Sub(cfg.Prefix)
	hctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if _, err := client.HeadBucket(hctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return nil, fmt.Errorf("bucket: checking s3://%s (endpoint %q): %w; create the bucket, or check the s3:// URL and the AWS credentials",
			cfg.Bucket, cfg.Endpoint, err)
	}
	return b, nil
}

// Sub returns the bucket scoped to prefix below b's prefix ("" for b's).
func (b *Bucket) Sub(prefix string) *Bucket {
	c := *b
	if p := strings.Trim(prefix, "/"); p != "" {
		c.prefix = b.prefix + p + "/"
	}
	c.where = "s3://" + path.Join(b.name, c.prefix)
	return &c
}

// String names the bucket and prefix, as s3://bucket/prefix.
func (b *Bucket) String() string { return b.where }

// Put stores data at key, replacing any object there: with the immutable
// Cache-Control and application/octet-stream for tiles and bundles, or with
// a short max-age and text/plain for the checkpoint (immutable false).
func (b *Bucket) Put(ctx context.Context, key string, data []byte, immutable bool) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.name),
		Key:           aws.String(b.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/octet-stream"),
		CacheControl:  aws.String(ImmutableCacheControl),
	}
	if !immutable {
		in.ContentType = aws.String("text/plain; charset=utf-8")
		in.CacheControl = aws.String(CheckpointCacheControl)
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("writing %s/%s: %w", b.where, key, err)
	}
	return nil
}

// Get returns the object at key, or an error wrapping os.ErrNotExist when
// there is none.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(b.prefix + key)})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s/%s: %w", b.where, key, os.ErrNotExist)
		}
		return nil, fmt.Errorf("reading %s/%s: %w", b.where, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", b.where, key, err)
	}
	return data, nil
}

// Delete removes the objects at keys; keys without an object are not an
// error.
func (b *Bucket) Delete(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000) // DeleteObjects' limit
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(b.prefix + k)}
		}
		if err := b.deleteObjects(ctx, ids); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (b *Bucket) deleteObjects(ctx context.Context, ids []types.ObjectIdentifier) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out, err := b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(b.name),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("deleting %d objects in %s: %w", len(ids), b.where, err)
	}
	for _, e := range out.Errors {
		if aws.ToString(e.Code) == "NoSuchKey" {
			continue
		}
		return fmt.Errorf("deleting %s in %s: %s: %s", aws.ToString(e.Key), b.where, aws.ToString(e.Code), aws.ToString(e.Message))
	}
	return nil
}

// notFound reports whether err says the object does not exist.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var nf *types.NotFound
	if errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}

// List returns the keys of every object under b's prefix, relative to it,
// in the bucket's (lexical) order.
func (b *Bucket) List(ctx context.Context) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(b.prefix)})
	for p.HasMorePages() {
		pctx, cancel := context.WithTimeout(ctx, b.timeout)
		out, err := p.NextPage(pctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", b.where, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), b.prefix))
		}
	}
	return keys, nil
}
