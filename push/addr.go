package push

import "net/netip"

// specialPurpose are the blocks of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (iana-ipv4-special-registry,
// iana-ipv6-special-registry), every entry, whether or not the registry
// calls it globally reachable: no push service lives on an anycast relay
// or a translation prefix, and a translated address may lead anywhere.
// The rest of what is not public is refused by publicAddr's other rules
// (multicast, and for IPv6 everything outside 2000::/3).
var specialPurpose = prefixes(
	// IPv4 (RFC 6890 and its updates).
	"0.0.0.0/8",          // "this network" (RFC 791)
	"10.0.0.0/8",         // private use (RFC 1918)
	"100.64.0.0/10",      // shared address space (RFC 6598)
	"127.0.0.0/8",        // loopback (RFC 1122)
	"169.254.0.0/16",     // link local (RFC 3927)
	"172.16.0.0/12",      // private use (RFC 1918)
	"192.0.0.0/24",       // IETF protocol assignments (RFC 6890), DS-Lite, PCP/TURN anycast, NAT64 discovery
	"192.0.2.0/24",       // documentation, TEST-NET-1 (RFC 5737)
	"192.31.196.0/24",    // AS112-v4 (RFC 7535)
	"192.52.193.0/24",    // AMT (RFC 7450)
	"192.88.99.0/24",     // deprecated 6to4 relay anycast (RFC 7526)
	"192.168.0.0/16",     // private use (RFC 1918)
	"192.175.48.0/24",    // direct delegation AS112 service (RFC 7534)
	"198.18.0.0/15",      // benchmarking (RFC 2544)
	"198.51.100.0/24",    // documentation, TEST-NET-2 (RFC 5737)
	"203.0.113.0/24",     // documentation, TEST-NET-3 (RFC 5737)
	"240.0.0.0/4",        // reserved (RFC 1112)
	"255.255.255.255/32", // limited broadcast (RFC 919)

	// IPv6 (RFC 6890 and its updates).
	"::1/128",           // loopback (RFC 4291)
	"::/128",            // unspecified (RFC 4291)
	"::ffff:0:0/96",     // IPv4-mapped (RFC 4291); checked as IPv4 too
	"64:ff9b::/96",      // IPv4-IPv6 translation (RFC 6052)
	"64:ff9b:1::/48",    // local-use IPv4/IPv6 translation (RFC 8215)
	"100::/64",          // discard-only (RFC 6666)
	"100:0:0:1::/64",    // dummy IPv6 prefix (RFC 9780)
	"2001::/23",         // IETF protocol assignments (RFC 2928): TEREDO, PCP/TURN/DNS-SD anycast, benchmarking, AMT, AS112, ORCHID, drone remote ID
	"2001:db8::/32",     // documentation (RFC 3849)
	"2002::/16",         // 6to4 (RFC 3056)
	"2620:4f:8000::/48", // direct delegation AS112 service (RFC 7534)
	"3fff::/20",         // documentation (RFC 9637)
	"5f00::/16",         // segment routing SIDs (RFC 9602)
	"fc00::/7",          // unique local (RFC 4193)
	"fe80::/10",         // link-local unicast (RFC 4291)
	// Not in the registry, but not public either.
	"fec0::/10", // deprecated site-local (RFC 3879)
)

// globalUnicast6 is the only IPv6 space allocated for global unicast.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// publicAddr reports whether a may be a push service's address: a global
// unicast address (for IPv6, in 2000::/3) in no special-purpose block. An
// IPv4-mapped address is judged as the IPv4 address it maps.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || !a.IsGlobalUnicast() {
		return false
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return false
	}
	for _, p := range specialPurpose {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
