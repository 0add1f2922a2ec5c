package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type body struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Data  []byte `json:"data"`
}

func decode(in, contentType string, limit int64) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(in))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	var b body
	return DecodeJSON(httptest.NewRecorder(), r, limit, &b)
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, in, ct string
		status       int
		code         string
	}{
		{"ok", `{"name":"a","count":1}`, "application/json", 0, ""},
		{"ok with charset", `{"name":"a"}`, "application/json; charset=utf-8", 0, ""},
		{"no content type", `{"name":"a"}`, "", 0, ""},
		{"form", `name=a`, "application/x-www-form-urlencoded", 415, "unsupported_media"},
		{"empty", ``, "application/json", 400, "invalid_json"},
		{"truncated", `{"name":`, "application/json", 400, "invalid_json"},
		{"wrong type", `{"count":"x"}`, "application/json", 400, "invalid_json"},
		{"bad base64", `{"data":"***"}`, "application/json", 400, "invalid_json"},
		{"trailing", `{"name":"a"} {}`, "application/json", 400, "invalid_json"},
		{"too large", `{"name":"` + strings.Repeat("a", 200) + `"}`, "application/json", 413, "payload_too_large"},
		{"array", `[]`, "application/json", 400, "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decode(tt.in, tt.ct, 100)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var he *Error
			if !errors.As(err, &he) || he.Status != tt.status || he.Body.Code != tt.code {
				t.Fatalf("err = %v, want %d %s", err, tt.status, tt.code)
			}
		})
	}
}

// FuzzDecodeJSON: whatever the body, the decoder answers a 4xx *Error or nil.
func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"name":"a","count":1,"data":"AA=="}`)
	f.Add(`{"count":1e999}`)
	f.Add(`{"data":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		err := decode(in, "application/json", 1<<10)
		if err == nil {
			return
		}
		var he *Error
		if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 {
			t.Fatalf("body %q: err = %v, want a 4xx", in, err)
		}
	})
}

func TestRouterErrors(t *testing.T) {
	r := NewRouter(nil)
	r.Handle("GET /x", func(w http.ResponseWriter, _ *http.Request) error { return nil })
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/x", 200},
		{"POST", "/x", 405},
		{"GET", "/y", 404},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
	}
}

// A wrong type in an embedded struct's field names the field as the
// client wrote it, not the Go struct that holds it.
func TestDecodeJSONFieldPath(t *testing.T) {
	type Inner struct {
		RegistrationID int `json:"registration_id"`
	}
	type outer struct {
		Inner
		Keys struct {
			ID int `json:"id"`
		} `json:"keys"`
	}
	for in, want := range map[string]string{
		`{"registration_id":"x"}`: `"registration_id"`,
		`{"keys":{"id":"x"}}`:     `"keys.id"`,
	} {
		var o outer
		err := DecodeJSON(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(in)), 1<<10, &o)
		var he *Error
		if !errors.As(err, &he) || !strings.Contains(he.Body.Message, want) || strings.Contains(he.Body.Message, "Inner") {
			t.Errorf("%s: %v, want a message naming %s", in, err, want)
		}
	}
}

func TestRouterNonCanonicalPaths(t *testing.T) {
	r := NewRouter(nil)
	r.Handle("GET /v1/things/{id}", func(w http.ResponseWriter, req *http.Request) error {
		_, err := w.Write([]byte(req.PathValue("id")))
		return err
	})
	for target, want := range map[string]int{
		"/v1/things/a":        200,
		"/v1/things/..%2Fetc": 200, // one segment, as the mux sees it
		"/v1/things//a":       404,
		"//v1/things/a":       404,
		"/v1/./things/a":      404,
		"/v1/x/../things/a":   404,
		"/v1/things/a/":       404, // no such route, and no redirect
		"/v1/things":          404,
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", target, w.Code, want)
		}
	}
}

func TestScrubAddrs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http: TLS handshake error from 203.0.113.7:51234: EOF":          "http: TLS handshake error from [addr]: EOF",
		"http: TLS handshake error from [2001:db8::7]:443: remote error": "http: TLS handshake error from [addr]: remote error",
		"http: TLS handshake error from [fe80::1%eth0]:443: x":           "http: TLS handshake error from [addr]: x",
		"read tcp 127.0.0.1:8080->198.51.100.2:40000: i/o timeout":       "read tcp [addr]->[addr]: i/o timeout",
		"http: panic serving 192.0.2.1:1234: boom":                       "http: panic serving [addr]: boom",
		"http: Accept error: too many open files; retrying in 5ms":       "http: Accept error: too many open files; retrying in 5ms",
		"version 1.2.3.4 is fine without a port, and so is 10:30":        "version 1.2.3.4 is fine without a port, and so is 10:30",
	} {
		if got := ScrubAddrs(in); got != want {
			t.Errorf("ScrubAddrs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostAllowList(t *testing.T) {
	t.Parallel()
	h := HostAllowList([]string{"localhost", "Admin.Example."}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for host, want := range map[string]int{
		"localhost": 200, "localhost:8081": 200, "admin.example": 200, "ADMIN.EXAMPLE:1": 200,
		"127.0.0.1:8081": 200, "[::1]:8081": 200, "10.1.2.3": 200,
		"evil.example": 421, "localhost.evil.example": 421, "": 421, "admin.example.evil": 421,
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
}
