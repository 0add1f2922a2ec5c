package oracle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunsTheOfficialLibrary(t *testing.T) {
	script := filepath.Join(t.TempDir(), "v.cjs")
	src := `const s = require('@signalapp/libsignal-client');
const k = s.PrivateKey.generate();
process.stdout.write(String(k.getPublicKey().serialize().length));`
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(string(Run(t, nil, script)))
	if out != "33" {
		t.Fatalf("public key length from the official library = %q, want 33", out)
	}
}
