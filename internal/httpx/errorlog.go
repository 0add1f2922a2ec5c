package httpx

import (
	"context"
	"log"
	"log/slog"
	"regexp"
	"strings"
)

// clientAddr matches a transport address as net/http and its errors print
// them: an IPv4 address, or an IPv6 one in brackets, with a port.
var clientAddr = regexp.MustCompile(`\[[0-9A-Fa-f:.]+(%[^\]]*)?\]:\d+|\b\d{1,3}(?:\.\d{1,3}){3}:\d+`)

// ScrubAddrs replaces every host:port in s with "[addr]".
func ScrubAddrs(s string) string { return clientAddr.ReplaceAllLiteralString(s, "[addr]") }

// ErrorLog is an http.Server's ErrorLog that writes to log at Warn
// without client addresses: net/http prints them in lines such as
// "http: TLS handshake error from 203.0.113.7:51234: EOF" and "http:
// panic serving ADDR", and client addresses never reach our logs.
func ErrorLog(l *slog.Logger) *log.Logger {
	return log.New(scrubWriter{l}, "", 0)
}

type scrubWriter struct{ l *slog.Logger }

func (w scrubWriter) Write(p []byte) (int, error) {
	msg := ScrubAddrs(strings.TrimRight(string(p), "\n"))
	w.l.Log(context.Background(), slog.LevelWarn, msg)
	return len(p), nil
}
