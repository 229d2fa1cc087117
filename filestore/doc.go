// Package filestore keeps the bytes of uploaded files, by key, in a
// directory (file:///path, for one replica) or in an S3 bucket
// (s3://bucket/prefix, for several), behind one small interface, Store.
//
// Writes stream: Put never holds a whole file in memory, and stops with
// ErrTooLarge at a byte limit. Keys are opaque names made by the caller of
// letters, digits and - _ . characters; Store checks them, so a key never
// escapes its directory or prefix.
//
// The S3 store uses github.com/minio/minio-go/v7, configured like the AWS
// tools: S3Config takes AWS_ENDPOINT_URL and AWS_REGION, and credentials
// come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), the shared credentials file, or the IAM role of the
// pod or instance (web identity through AWS_WEB_IDENTITY_TOKEN_FILE, as on
// EKS), in that order.
package filestore
