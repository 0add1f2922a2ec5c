package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
)

func TestPushKeptAndHidden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	_, err := s.Push(ctx)
	assert(t, errors.Is(err, store.ErrNoPush), "empty store: %v", err)

	priv, auth := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 16)
	noErr(t, s.SetPush(ctx, &store.Push{Kind: "webpush", Endpoint: "https://up.example/push/s3cret", PrivateKey: priv, Auth: auth}))
	p, err := s.Push(ctx)
	noErr(t, err)
	assert(t, p.Kind == "webpush" && p.Endpoint.Reveal() == "https://up.example/push/s3cret" && p.Created > 0, "got %+v", p)
	assert(t, bytes.Equal(p.PrivateKey, priv) && bytes.Equal(p.Auth, auth), "keys changed")

	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("push", "p", p)
	for _, shown := range []string{fmt.Sprintf("%v %+v %#v %s %x", p, p, p, p.PrivateKey, p.Auth), logged.String()} {
		assert(t, !strings.Contains(shown, "s3cret") && !strings.Contains(shown, "0707") && !strings.Contains(shown, "\x07"), "a secret shows: %s", shown)
	}

	// Replacing by another kind drops the keys; the row survives reopening.
	noErr(t, s.SetPush(ctx, &store.Push{Kind: "fcm"}))
	noErr(t, s.Close())
	s = open(t, dir)
	p, err = s.Push(ctx)
	noErr(t, err)
	assert(t, p.Kind == "fcm" && p.Endpoint == "" && p.PrivateKey == nil && p.Auth == nil, "after replacing: %+v", p)
	noErr(t, s.DeletePush(ctx))
	noErr(t, s.DeletePush(ctx))
	_, err = s.Push(ctx)
	assert(t, errors.Is(err, store.ErrNoPush), "after delete: %v", err)
	assert(t, s.SetPush(ctx, &store.Push{}) != nil, "a registration without kind was kept")
}
