package attachments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config selects a bucket on S3 or any S3-compatible store (MinIO, Ceph,
// R2, ...). Credentials come from the standard AWS chain (environment,
// shared files, instance or container roles), never from flags.
type S3Config struct {
	Bucket    string
	Region    string
	Endpoint  string // empty: AWS's own endpoint for Region
	PathStyle bool   // bucket in the path, not the host name
	Prefix    string // prepended to every object key
	// Credentials replaces the standard AWS chain when set (embedding
	// and tests; hushd always uses the chain).
	Credentials aws.CredentialsProvider
}

// S3 is the blob store on an S3 bucket. Clients upload parts and download
// objects with presigned requests; the part's Content-Length is part of
// the signature, so the store itself refuses a part of any other size.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string
}

// OpenS3 connects to the bucket and checks that it is reachable.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	opts := []func(*config.LoadOptions) error{}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Presigned parts carry no checksum headers the client would have
		// to reproduce; integrity is the client's digest over the blob.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	b := &S3{client: client, presign: s3.NewPresignClient(client), bucket: cfg.Bucket, prefix: cfg.Prefix}
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := client.HeadBucket(hctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return nil, fmt.Errorf("s3 bucket %q: %w", cfg.Bucket, err)
	}
	return b, nil
}

func (b *S3) key(k string) *string { return aws.String(b.prefix + k) }

// Begin implements Blobs.
func (b *S3) Begin(ctx context.Context, key string) (string, error) {
	out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(b.bucket), Key: b.key(key), ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return "", fmt.Errorf("s3 create upload: %w", err)
	}
	return aws.ToString(out.UploadId), nil
}

// PartLocation implements Blobs.
func (b *S3) PartLocation(ctx context.Context, key, uploadID string, part int, size int64, expires time.Time) (Location, error) {
	req, err := b.presign.PresignUploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(b.bucket), Key: b.key(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(int32(part)), ContentLength: aws.Int64(size),
	}, s3.WithPresignExpires(time.Until(expires)))
	if err != nil {
		return Location{}, fmt.Errorf("s3 presign part: %w", err)
	}
	return Location{Method: req.Method, URL: req.URL, Headers: clientHeaders(req.SignedHeader), Expires: expires}, nil
}

// clientHeaders keeps the signed headers a client must send itself: its
// HTTP library sets Host and Content-Length from the URL and the body.
func clientHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length":
			continue
		}
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Parts implements Blobs.
func (b *S3) Parts(ctx context.Context, key, uploadID string) ([]Part, error) {
	var out []Part
	p := s3.NewListPartsPaginator(b.client, &s3.ListPartsInput{Bucket: aws.String(b.bucket), Key: b.key(key), UploadId: aws.String(uploadID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if isNoUpload(err) {
			return nil, ErrNoUpload
		}
		if err != nil {
			return nil, fmt.Errorf("s3 list parts: %w", err)
		}
		for _, pt := range page.Parts {
			out = append(out, Part{Number: int(aws.ToInt32(pt.PartNumber)), Size: aws.ToInt64(pt.Size), ETag: aws.ToString(pt.ETag)})
		}
	}
	return out, nil
}

// Complete implements Blobs.
func (b *S3) Complete(ctx context.Context, key, uploadID string, parts []Part) error {
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	_, err := b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(b.bucket), Key: b.key(key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if isNoUpload(err) {
		return ErrNoUpload
	}
	if err != nil {
		return fmt.Errorf("s3 complete upload: %w", err)
	}
	return nil
}

// Abort implements Blobs.
func (b *S3) Abort(ctx context.Context, key, uploadID string) error {
	if uploadID == "" {
		return nil
	}
	_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b.bucket), Key: b.key(key), UploadId: aws.String(uploadID)})
	if err != nil && !isNoUpload(err) {
		return fmt.Errorf("s3 abort upload: %w", err)
	}
	return nil
}

// DownloadLocation implements Blobs.
func (b *S3) DownloadLocation(ctx context.Context, key string, expires time.Time) (Location, error) {
	req, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: b.key(key)}, s3.WithPresignExpires(time.Until(expires)))
	if err != nil {
		return Location{}, fmt.Errorf("s3 presign get: %w", err)
	}
	return Location{Method: req.Method, URL: req.URL, Headers: clientHeaders(req.SignedHeader), Expires: expires}, nil
}

// Delete implements Blobs.
func (b *S3) Delete(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: b.key(key)})
	var nf *types.NoSuchKey
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("s3 delete: %w", err)
	}
	return nil
}

func isNoUpload(err error) bool {
	var nu *types.NoSuchUpload
	if errors.As(err, &nu) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

var _ Blobs = (*S3)(nil)
