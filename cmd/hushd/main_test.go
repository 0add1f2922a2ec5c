package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/hushmsg/hush/internal/server"
)

// TestREADMEListsEveryFlag keeps the README's configuration table true.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Defaults()
	fs := flag.NewFlagSet("hushd", flag.ContinueOnError)
	var lf, tn string
	bindConfig(fs, &cfg, &lf, &tn)
	bindRegistration(fs, &cfg)
	bindProviders(fs)
	fs.VisitAll(func(f *flag.Flag) {
		env := "HUSH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		row := "| `--" + f.Name + "` | `" + env + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README has no row for --%s (%s)", f.Name, env)
		}
	})
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Setenv("HUSH_MAX_DEVICES", "3")
	t.Setenv("HUSH_LISTEN", "127.0.0.1:1")
	cfg := server.Defaults()
	fs := flag.NewFlagSet("hushd", flag.ContinueOnError)
	var lf, tn string
	bindConfig(fs, &cfg, &lf, &tn)
	if err := parse(fs, []string{"--listen", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Devices.MaxDevices != 3 {
		t.Errorf("HUSH_MAX_DEVICES not applied: %d", cfg.Devices.MaxDevices)
	}
	if cfg.Listen != "127.0.0.1:2" {
		t.Errorf("flag should win over env: %s", cfg.Listen)
	}
	t.Setenv("HUSH_MAX_DEVICES", "many")
	if err := parse(flag.NewFlagSet("x", flag.ContinueOnError), nil); err != nil {
		t.Fatal(err) // no flags bound: nothing to apply
	}
}

func TestParseTestNumbers(t *testing.T) {
	m, err := parseTestNumbers("+15550000001=111111, +15550000002=222222")
	if err != nil || len(m) != 2 || m["+15550000002"] != "222222" {
		t.Fatalf("got %v, %v", m, err)
	}
	m, err = parseTestNumbers("+15550000098..+15550000101=424242")
	if err != nil || len(m) != 4 || m["+15550000098"] != "424242" || m["+15550000101"] != "424242" || m["+15550000100"] != "424242" {
		t.Fatalf("range: got %v, %v", m, err)
	}
	for _, bad := range []string{"+1555=12345", "15550000001=111111", "+1555=abcdef", "+1555",
		"+15550000002..+15550000001=111111", "+1555..+15550=111111", "+1..+9999999=111111", "+1555..=111111", "+1+2=111111"} {
		if _, err := parseTestNumbers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
