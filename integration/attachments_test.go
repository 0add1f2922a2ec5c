package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"image"
	"image/color"
	_ "image/jpeg" // thumbnails
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushmsg/hush/internal/testkit/s3test"
)

// media is one line of `hush receive --json` with its attachment.
type media struct {
	Kind       string `json:"kind"`
	Body       string `json:"body"`
	Group      string `json:"group"`
	Attachment *struct {
		FileName    string `json:"file_name"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
		Thumbnail   []byte `json:"thumbnail"`
		Path        string `json:"path"`
		Error       string `json:"error"`
	} `json:"attachment"`
}

func receiveMedia(t *testing.T, server, home string) []media {
	t.Helper()
	out := mustHush(t, server, home, "receive", "--json", "--timeout", "1s")
	var msgs []media
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m media
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("receive --json line %q: %v", sc.Text(), err)
		}
		if m.Attachment != nil {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// sentFile is a file to send and the digest of its bytes.
type sentFile struct {
	path string
	sum  [32]byte
}

func writeSent(t *testing.T, dir, name string, b []byte) sentFile {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return sentFile{path: path, sum: sha256.Sum256(b)}
}

// sameAs checks that a received attachment was saved with the bytes
// sent.
func (s sentFile) sameAs(t *testing.T, who string, m media) {
	t.Helper()
	a := m.Attachment
	if a.Error != "" || a.Path == "" {
		t.Fatalf("%s: %s not saved: %q", who, a.FileName, a.Error)
	}
	f, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := bufio.NewReader(f).WriteTo(h); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), s.sum[:]) {
		t.Fatalf("%s: %s differs from what was sent", who, a.Path)
	}
}

// testPNG is a 256×256 gradient PNG with a text after its end, which
// decoders skip.
func testPNG(t *testing.T, text string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: uint8(x ^ y), A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n" + text + "\n")
	return b.Bytes()
}

// TestAttachments sends a 50 MiB video (random bytes around a canary) and
// a PNG image, 1:1 and in a group, between real hush and hushd processes:
// on the embedded blob store, then on S3 (an in-process S3-protocol
// server behind presigned-URL checks). Every receiver saves byte-identical
// files; no stored blob or object, nor anything else in the server's data
// directory, holds the canary.
func TestAttachments(t *testing.T) {
	dir := t.TempDir()
	text := canary(t)
	video := make([]byte, 50<<20)
	_, _ = rand.Read(video)
	copy(video[len(video)/3:], text)
	files := map[string]sentFile{
		"video": writeSent(t, dir, "holiday.mp4", video),
		"image": writeSent(t, dir, "sunset.png", testPNG(t, text)),
	}
	video = nil

	t.Run("embedded", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		h := startHushd(t, data)
		exchange(t, h.URL, files)
		assertNoneInDir(t, filepath.Join(data, "attachments", "blobs"), text)
		assertNoneInDir(t, data, text)
	})

	t.Run("s3", func(t *testing.T) {
		s3 := s3test.Start(t)
		for _, kv := range s3.Env() {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v) // hushd finds its credentials the standard way
		}
		data := filepath.Join(t.TempDir(), "data")
		h := startHushd(t, data, s3.Args()...)
		exchange(t, h.URL, files)
		objects := s3.Objects(t)
		blobs := 0
		for key, b := range objects {
			if bytes.Contains(b, []byte(text)) {
				t.Errorf("object %s holds the canary", key)
			}
			if len(b) > 50<<20 {
				blobs++
			}
		}
		if len(objects) != 4 || blobs != 2 {
			t.Errorf("%d objects in the bucket, %d of them videos; want 4 and 2", len(objects), blobs)
		}
		if n := s3.Uploads(t); n != 0 {
			t.Errorf("%d unfinished multipart uploads left", n)
		}
		assertNoneInDir(t, data, text)
	})
}

// exchange registers alice, bob and carol; alice sends the video and the
// image to bob, then to a group of the three; bob and carol check what
// they saved.
func exchange(t *testing.T, server string, files map[string]sentFile) {
	t.Helper()
	homes := t.TempDir()
	alice, bob, carol := filepath.Join(homes, "alice"), filepath.Join(homes, "bob"), filepath.Join(homes, "carol")
	mustHush(t, server, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, server, bob, "register", "+15550000002", "--code", "222222")
	mustHush(t, server, carol, "register", "+15550000003", "--code", "333333")

	mustHush(t, server, alice, "send", "+15550000002", "--video", files["video"].path, "the", "beach")
	mustHush(t, server, alice, "send", "+15550000002", "--image", files["image"].path)
	g := strings.TrimSpace(mustHush(t, server, alice, "group", "create", "+15550000002", "+15550000003"))
	mustHush(t, server, alice, "send", "--group", g, "--video", files["video"].path)
	mustHush(t, server, alice, "send", "--group", g, "--image", files["image"].path, "for all")

	got := receiveMedia(t, server, bob)
	if len(got) != 4 {
		t.Fatalf("bob saved %d attachments, want 4: %+v", len(got), got)
	}
	want := []struct {
		kind, body, group string
		file              sentFile
		name              string
	}{
		{"video", "the beach", "", files["video"], "holiday.mp4"},
		{"image", "", "", files["image"], "sunset.png"},
		{"video", "", g, files["video"], "holiday (1).mp4"},
		{"image", "for all", g, files["image"], "sunset (1).png"},
	}
	for i, w := range want {
		m := got[i]
		if m.Kind != w.kind || m.Body != w.body || m.Group != w.group || filepath.Base(m.Attachment.Path) != w.name {
			t.Fatalf("bob's attachment %d: %+v, want %+v", i, m, w)
		}
		w.file.sameAs(t, "bob", m)
	}
	if len(got[1].Attachment.Thumbnail) == 0 || got[1].Attachment.ContentType != "image/png" || got[0].Attachment.ContentType != "video/mp4" {
		t.Errorf("bob's image: %+v; video: %+v", got[1].Attachment, got[0].Attachment)
	}
	got = receiveMedia(t, server, carol)
	if len(got) != 2 || got[0].Group != g || got[1].Group != g {
		t.Fatalf("carol saved %+v", got)
	}
	files["video"].sameAs(t, "carol", got[0])
	files["image"].sameAs(t, "carol", got[1])
	if _, _, err := image.Decode(bytes.NewReader(got[1].Attachment.Thumbnail)); err != nil {
		t.Errorf("carol's thumbnail: %v", err)
	}
}
