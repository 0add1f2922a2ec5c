package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresAdminURL is where tests find PostgreSQL; HUSH_TEST_POSTGRES
// overrides it.
func PostgresAdminURL() string {
	if u := os.Getenv("HUSH_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// PostgresURL creates a fresh database for t and returns its URL; it is
// dropped when t ends. Without a reachable server the test is skipped,
// except under CI=true, where it fails.
func PostgresURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at %s under CI=true: %v", redact(admin), err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set HUSH_TEST_POSTGRES", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "hush_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// NATSURL returns the NATS server tests use (HUSH_TEST_NATS overrides
// nats://127.0.0.1:4222). Without a reachable server the test is skipped,
// except under CI=true, where it fails.
func NATSURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HUSH_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatalf("HUSH_TEST_NATS: %v", err)
	}
	c, err := net.DialTimeout("tcp", parsed.Host, 5*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS unreachable at %s under CI=true: %v", parsed.Host, err)
		}
		t.Skipf("NATS unreachable (%v); set HUSH_TEST_NATS", err)
	}
	c.Close()
	return u
}
