# Sourced by the other scripts: the Go they build, test and scan with.
# Go releases before 1.26.11 have standard-library vulnerabilities that
# hushd reaches (net/http, crypto/tls, crypto/x509; scripts/vulncheck.sh
# lists them), so an older local Go runs this release instead, which the
# go command fetches once through the module proxy. A GOTOOLCHAIN set in
# the environment wins.
hush_go=1.26.11
if [ -z "${GOTOOLCHAIN:-}" ]; then
  have=$(GOTOOLCHAIN=local go env GOVERSION)
  have=${have#go}
  if [ "$(printf '%s\n%s\n' "$hush_go" "$have" | sort -V | head -n 1)" != "$hush_go" ]; then
    export GOTOOLCHAIN=go$hush_go
  fi
fi
