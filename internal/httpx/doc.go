// Package httpx is the HTTP plumbing every domain package shares: JSON
// bodies with size limits, error answers with stable codes, and the mapping
// from domain errors to statuses. It knows no domain.
package httpx
