package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

func TestPushRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fake{}
	srv := f.start(t, map[string]func(http.ResponseWriter, *http.Request){
		"PUT /v1/push":       reply(204, ``),
		"GET /v1/push":       reply(200, `{"kind":"webpush","created":5,"updated":6}`),
		"DELETE /v1/push":    reply(204, ``),
		"GET /v1/push/vapid": reply(200, `{"public_key":"BKey"}`),
	})
	dev := newClient(t, srv.URL, true)

	reg := &api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://up.example/push/s3cret", P256DH: []byte{4, 1}, Auth: []byte{2}}
	noErr(t, dev.SetPush(ctx, reg))
	r := f.last(t)
	assert(t, r.method == "PUT" && r.path == "/v1/push" && r.hasAuth, "SetPush sent %s %s (auth %v)", r.method, r.path, r.hasAuth)
	assert(t, r.body == `{"kind":"webpush","endpoint":"https://up.example/push/s3cret","p256dh":"BAE=","auth":"Ag=="}`, "SetPush body %s", r.body)

	st, err := dev.Push(ctx)
	noErr(t, err)
	assert(t, *st == api.PushStatus{Kind: "webpush", Created: 5, Updated: 6}, "Push = %+v", st)
	noErr(t, dev.DeletePush(ctx))
	assert(t, f.last(t).method == "DELETE", "DeletePush sent %s", f.last(t).method)
	v, err := dev.PushVAPID(ctx)
	noErr(t, err)
	assert(t, v.PublicKey == "BKey", "PushVAPID = %+v", v)
}

func TestPushErrorsHoldNoEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fake{}
	srv := f.start(t, map[string]func(http.ResponseWriter, *http.Request){
		"PUT /v1/push": reply(400, `{"error":"bad_request","message":"webpush endpoint is not on a public address: push endpoint refused"}`),
		"GET /v1/push": reply(404, `{"error":"not_found","message":"this device has no push registration"}`),
	})
	dev := newClient(t, srv.URL, true)
	err := dev.SetPush(ctx, &api.PushRegistration{Kind: api.PushWebPush, Endpoint: "http://10.0.0.1/push/s3cret-path"})
	assert(t, client.IsCode(err, api.CodeBadRequest), "SetPush refused: %v", err)
	assert(t, !strings.Contains(err.Error(), "s3cret-path"), "error holds the endpoint: %v", err)
	_, err = dev.Push(ctx)
	assert(t, client.IsCode(err, api.CodeNotFound), "Push without a registration: %v", err)
	_, err = newClient(t, srv.URL, false).PushVAPID(ctx)
	assert(t, errors.Is(err, client.ErrNoCredentials), "PushVAPID without credentials: %v", err)
}
