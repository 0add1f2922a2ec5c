package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// canaryBytes is size random bytes with a canary string in the middle.
func canaryBytes(t *testing.T, size int) ([]byte, string) {
	t.Helper()
	c := make([]byte, 8)
	_, _ = rand.Read(c)
	canary := "canary-" + hex.EncodeToString(c)
	b := make([]byte, size)
	_, _ = rand.Read(b)
	copy(b[size/2:], canary)
	return b, canary
}

// writeFile writes b to name in a fresh directory and returns its path.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	noErr(t, os.WriteFile(path, b, 0o600))
	return path
}

// sameFile checks that the file at path holds want.
func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	noErr(t, err)
	assert(t, sha256.Sum256(got) == sha256.Sum256(want), "%s: %d bytes, not the %d sent", path, len(got), len(want))
}

// noneContains checks that no file under dir holds needle, and returns
// how many files it read.
func noneContains(t *testing.T, dir, needle string) int {
	t.Helper()
	files := 0
	noErr(t, filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		assert(t, !bytes.Contains(b, []byte(needle)), "%s holds the plaintext's canary", path)
		return nil
	}))
	return files
}

// TestAttachments sends an image 1:1 (with a linked device getting the
// sync copy) and a file across the 8 MiB part boundary in a group, on the
// embedded blob store: every receiver saves byte-identical files under
// downloads/, a second file of the same name does not overwrite the
// first, the server's disk never holds the plaintext, a blob altered on
// the server's disk is refused for its message alone, and chat saves
// attachments as receive does.
func TestAttachments(t *testing.T) {
	c := newCLI(t)
	alice := c.register("alice1", 1)
	bob := c.register("bob1", 2)
	carol := c.register("carol1", 3)
	c.link("alice2", "alice1")
	home := func(dev string) string { return filepath.Join(c.homes, dev) }

	// An image: a PNG with the canary after its end, which decoders skip.
	img, canary := canaryBytes(t, 0)
	img = append(encodePNG(t, testImage(300, 200)), append([]byte("\n"+canary+"\n"), img...)...)
	imgPath := writeFile(t, "photo.png", img)
	r := c.run("alice1", "send", bob, "--image", imgPath, "look", "at", "this", "--json")
	sent := jsonOut[map[string]any](t, r)
	att, _ := sent["attachment"].(map[string]any)
	imgID, _ := att["id"].(string)
	assert(t, imgID != "" && att["content_type"] == "image/png", "send printed %v", sent)
	assert(t, strings.Contains(r.stderr, "uploading photo.png 0") && strings.Contains(r.stderr, "100%"), "progress: %q", r.stderr)

	got := c.receive("bob1")
	assert(t, len(got) == 1 && got[0].Kind == kindImage && got[0].Body == "look at this" && got[0].Attachment != nil, "bob1 got %+v", got)
	a := got[0].Attachment
	assert(t, a.Error == "" && a.Path == filepath.Join(home("bob1"), "downloads", "photo.png") && a.Size == int64(len(img)), "bob1's attachment %+v", a)
	sameFile(t, a.Path, img)
	th, format, err := image.Decode(bytes.NewReader(a.Thumbnail))
	noErr(t, err)
	assert(t, format == "jpeg" && th.Bounds().Dx() == 64 && th.Bounds().Dy() == 42, "thumbnail %s %v", format, th.Bounds())
	got = c.receive("alice2")
	assert(t, len(got) == 1 && got[0].SyncTo != "" && got[0].Attachment.Path == filepath.Join(home("alice2"), "downloads", "photo.png"), "alice2 got %+v", got)
	sameFile(t, got[0].Attachment.Path, img)

	// The same name again is saved next to the first; text output says
	// where.
	c.run("alice1", "send", bob, "--image", imgPath)
	r = c.run("bob1", "receive")
	want := filepath.Join(home("bob1"), "downloads", "photo (1).png")
	assert(t, strings.Contains(r.stdout, "<image> photo.png (saved to "+want+")"), "receive printed %q", r.stdout)
	sameFile(t, want, img)
	sameFile(t, filepath.Join(home("bob1"), "downloads", "photo.png"), img)

	// A file in a group, one byte past a part: two parts.
	g := strings.TrimSpace(c.run("alice1", "group", "create", bob, carol).stdout)
	doc, docCanary := canaryBytes(t, 8<<20-200) // the blob is 8 MiB + a bit after padding
	docPath := writeFile(t, "report.bin", doc)
	c.run("carol1", "send", "--group", g, "--file", docPath)
	for _, dev := range []string{"alice1", "bob1", "alice2"} {
		files := ofKind(c.receive(dev), kindFile)
		assert(t, len(files) == 1 && files[0].Group == g && files[0].Attachment.Error == "", "%s got %+v", dev, files)
		assert(t, files[0].Attachment.ContentType == "application/octet-stream" && files[0].Attachment.Thumbnail == nil, "%s: %+v", dev, files[0].Attachment)
		sameFile(t, files[0].Attachment.Path, doc)
	}

	// The server keeps ciphertext only.
	blobs := filepath.Join(c.node.DataDir, server.BlobDir)
	_, err = os.Stat(filepath.Join(blobs, "blobs", imgID))
	noErr(t, err)
	for _, needle := range []string{canary, docCanary} {
		assert(t, noneContains(t, c.node.DataDir, needle) > 3, "no files in the server's data directory")
	}

	// A blob altered on the server's disk: that message's attachment is
	// refused, the message and the next one are delivered.
	secret, _ := canaryBytes(t, 4000)
	sent = jsonOut[map[string]any](t, c.run("alice1", "send", bob, "--file", writeFile(t, "secret.txt", secret), "--json"))
	att, _ = sent["attachment"].(map[string]any)
	blobPath := filepath.Join(blobs, "blobs", att["id"].(string))
	blob, err := os.ReadFile(blobPath)
	noErr(t, err)
	blob[100] ^= 1
	noErr(t, os.WriteFile(blobPath, blob, 0o600))
	c.run("alice1", "send", bob, "after the bad one")
	r = c.run("bob1", "receive", "--json")
	assert(t, strings.Contains(r.stderr, "cannot save the attachment secret.txt of message") && strings.Contains(r.stderr, "does not authenticate"), "stderr %q", r.stderr)
	assert(t, strings.Contains(r.stdout, `"error":"attachment blob does not authenticate`) && strings.Contains(r.stdout, "after the bad one"), "receive printed %q", r.stdout)
	_, err = os.Stat(filepath.Join(home("bob1"), "downloads", "secret.txt"))
	assert(t, os.IsNotExist(err), "a refused attachment was saved")
	left, _ := filepath.Glob(filepath.Join(home("bob1"), ".download-*"))
	assert(t, len(left) == 0, "temporary files left: %v", left)

	// chat saves what comes in the same way.
	in, w := io.Pipe()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(t, in, &out, &errOut, "--server", c.url, "--home", home("bob1"), "chat", alice)
	}()
	testkit.WaitFor(t, "bob's chat to start", func() bool { return strings.Contains(errOut.String(), "chatting with") })
	c.run("alice1", "send", bob, "--file", writeFile(t, "notes.txt", []byte("chat attachment")), "in", "chat")
	want = filepath.Join(home("bob1"), "downloads", "notes.txt")
	testkit.WaitFor(t, "the attachment in bob's chat", func() bool {
		return strings.Contains(out.String(), "<file> notes.txt in chat (saved to "+want+")")
	})
	_, err = io.WriteString(w, "/quit\n")
	noErr(t, err)
	noErr(t, w.Close())
	assert(t, <-done == exitOK, "bob's chat: %q", errOut.String())
	sameFile(t, want, []byte("chat attachment"))
}
