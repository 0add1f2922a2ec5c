// Package s3test runs an in-process server that speaks the S3 protocol
// (gofakes3, in memory) for tests, behind a check of AWS Signature V4
// presigned URLs: a URL past its expiry, with a forged signature, or sent
// with a Content-Length other than the one signed gets 403, as from S3.
// Requests signed in the Authorization header must name the test access
// key. Tests reach it through the real SDK and real HTTP.
package s3test

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/hushmsg/hush/attachments"
)

// The test credentials and place.
const (
	AccessKey = "hush-test-access"
	SecretKey = "hush-test-secret"
	Region    = "us-east-1"
	Bucket    = "hush-test"
)

// Server is a running S3 test server with one bucket.
type Server struct {
	URL     string
	Client  *s3.Client
	backend *s3mem.Backend
	srv     *httptest.Server
}

// Start starts a server for the test's lifetime.
func Start(t testing.TB) *Server {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(backend, gofakes3.WithoutVersioning())
	s := &Server{backend: backend}
	inner := faker.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := verify(r); err != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<Error><Code>AccessDenied</Code><Message>%s</Message></Error>", err)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	s.Client = s3.New(s3.Options{
		Region: Region, BaseEndpoint: aws.String(s.URL), UsePathStyle: true,
		Credentials:                aws.CredentialsProviderFunc(creds),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return s
}

// Config is the blob store configuration for the server's bucket.
func (s *Server) Config() attachments.S3Config {
	return attachments.S3Config{Bucket: Bucket, Endpoint: s.URL, Region: Region, PathStyle: true, Credentials: aws.CredentialsProviderFunc(creds)}
}

// Env is the environment a hushd process needs to use the server through
// the standard AWS credential chain.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
}

// Args are hushd's flags for the server's bucket.
func (s *Server) Args() []string {
	return []string{"--s3-bucket", Bucket, "--s3-endpoint", s.URL, "--s3-region", Region, "--s3-path-style"}
}

// Objects returns every object in the bucket, by key.
func (s *Server) Objects(t testing.TB) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(Bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(Bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[aws.ToString(o.Key)] = b
		}
	}
	return out
}

// Uploads counts the unfinished multipart uploads in the bucket.
func (s *Server) Uploads(t testing.TB) int {
	t.Helper()
	out, err := s.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

func creds(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}, nil
}

// verify checks a request's signature the way S3 does for what tests
// exercise: presigned URLs are re-signed with the test secret and compared;
// header-signed requests must name the test key.
func verify(r *http.Request) error {
	q := r.URL.Query()
	sig := q.Get("X-Amz-Signature")
	if sig == "" {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+AccessKey+"/") {
			return fmt.Errorf("not signed with the test key")
		}
		return nil
	}
	date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date")
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 1 || secs > 7*24*3600 {
		return fmt.Errorf("bad X-Amz-Expires")
	}
	if time.Now().After(date.Add(time.Duration(secs) * time.Second)) {
		return fmt.Errorf("request has expired")
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	keep := url.Values{}
	for k, v := range q {
		switch k {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature":
			continue
		}
		keep[k] = v
	}
	u.RawQuery = keep.Encode()
	req, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return err
	}
	for _, h := range strings.Split(q.Get("X-Amz-SignedHeaders"), ";") {
		switch h {
		case "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			req.Header.Set(h, r.Header.Get(h))
		}
	}
	c, _ := creds(r.Context())
	signed, _, err := v4.NewSigner().PresignHTTP(r.Context(), c, req, "UNSIGNED-PAYLOAD", "s3", Region, date)
	if err != nil {
		return err
	}
	su, err := url.Parse(signed)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(su.Query().Get("X-Amz-Signature")), []byte(sig)) != 1 {
		return fmt.Errorf("the request signature we calculated does not match the signature you provided")
	}
	return nil
}

// ExpiredURL is a GET of key in the bucket presigned two hours ago for a
// minute: correctly signed, and expired.
func (s *Server) ExpiredURL(t testing.TB, key string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/"+Bucket+"/"+key+"?X-Amz-Expires=60", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := creds(context.Background())
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, req, "UNSIGNED-PAYLOAD", "s3", Region, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
