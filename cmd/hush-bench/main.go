// Command hush-bench is Hush's load generator. It acts as many devices at
// once with real WebSocket clients; payloads are random bytes carrying a
// send timestamp, which the server cannot tell from ciphertext.
//
// Scenarios: relay (1:1 between online devices), backlog (drain of an
// offline mailbox), bundles (prekey claims) and idle (sockets held open),
// against a hushd it starts itself (SQLite, or PostgreSQL with --db) or a
// running one (--url). See docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: hush-bench relay|backlog|bundles|fanout|idle [flags]   (hush-bench SCENARIO -h for the flags)")
		return flag.ErrHelp
	}
	cfg := relayConfig{}
	fs := flag.NewFlagSet("hush-bench "+args[0], flag.ContinueOnError)
	fs.StringVar(&cfg.DB, "db", "", "PostgreSQL URL for the hushd it starts; empty: SQLite in a temporary directory")
	fs.StringVar(&cfg.JSON, "json", "", "write the results as JSON to this file")
	fs.IntVar(&cfg.Size, "size", 256, "bytes of payload per envelope")
	fs.StringVar(&cfg.Target.URL, "url", "", "run against this running hushd (started with --test-numbers '+15550000000..+15550999999=424242' and the limits off; see docs/benchmarks.md) instead of one in this process")
	fs.StringVar(&cfg.Target.Admin, "admin", "", "with --url: the hushd's admin listener URL, for its metrics")
	fs.StringVar(&cfg.Target.Data, "data", "", "with --url and SQLite: the hushd's data directory, for the raw store measurement")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (server and load) to this file")
	var scenario func() error
	switch args[0] {
	case "relay":
		fs.IntVar(&cfg.Pairs, "pairs", 64, "sender/receiver device pairs, each sending one envelope at a time")
		fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
		fs.IntVar(&cfg.Rate, "rate", 0, "envelopes per second in all (0: as fast as the server answers)")
		fs.StringVar(&cfg.Plot, "plot", "", "draw throughput and latency over time into this PNG file")
		fs.DurationVar(&cfg.Raw, "raw", 3*time.Second, "first measure the store's own insert + delete limit for this long (0: skip)")
		scenario = func() error {
			if cfg.Pairs < 1 || cfg.Pairs > 5000 || cfg.Size < 16 || cfg.Duration <= 0 || cfg.Rate < 0 {
				return errors.New("--pairs 1..5000, --size ≥ 16, --duration > 0, --rate ≥ 0")
			}
			return relay(ctx, cfg)
		}
	case "backlog":
		n := fs.Int("n", 20000, "envelopes to queue for the offline device")
		scenario = func() error { return backlog(ctx, cfg.Target, cfg.DB, *n, cfg.Size, cfg.JSON) }
	case "bundles":
		targets := fs.Int("targets", 20, "devices whose bundles are claimed (100 one-time prekeys each)")
		fetchers := fs.Int("fetchers", 32, "devices fetching bundles concurrently")
		d := fs.Duration("duration", 5*time.Second, "how long to fetch")
		scenario = func() error { return bundles(ctx, cfg.Target, cfg.DB, *targets, *fetchers, *d, cfg.JSON) }
	case "fanout":
		fc := fanoutConfig{}
		fs.IntVar(&fc.Members, "members", 1000, "members of the group, one device each")
		fs.IntVar(&fc.Senders, "senders", 4, "members sending group messages one after another")
		fs.IntVar(&fc.Queued, "queued", 20, "group messages queued while every member is offline, to measure storage per delivery")
		fs.DurationVar(&fc.Duration, "duration", 10*time.Second, "how long to send")
		scenario = func() error {
			fc.Target, fc.DB, fc.Size, fc.JSON = cfg.Target, cfg.DB, cfg.Size, cfg.JSON
			if fc.Members < 2 || fc.Senders < 1 || fc.Senders > fc.Members || fc.Size < 16 || fc.Queued < 0 {
				return errors.New("--members ≥ 2, --senders 1..members, --size ≥ 16, --queued ≥ 0")
			}
			return fanout(ctx, fc)
		}
	case "idle":
		ic := idleConfig{}
		fs.IntVar(&ic.N, "n", 10000, "idle device sockets to hold")
		fs.IntVar(&ic.Nodes, "nodes", 1, "hushd nodes to start, sockets spread evenly (more than one: a cluster on --db and --nats); at most 19,000 sockets per node")
		fs.StringVar(&ic.NATS, "nats", "", "with --nodes > 1: the NATS URL the nodes share")
		fs.StringVar(&ic.HushdBin, "hushd", "bin/hushd", "the hushd binary to start (its memory is measured)")
		fs.StringVar(&ic.MemLimit, "gomemlimit", "", "GOMEMLIMIT for each hushd it starts (e.g. 400MiB: the Go runtime collects garbage before the heap grows past it); empty: none")
		fs.StringVar(&ic.HeapFile, "heap-profile", "", "save the first hushd's heap profile, taken with the sockets open, to this file")
		scenario = func() error {
			ic.DB, ic.JSON = cfg.DB, cfg.JSON
			return idle(ctx, ic)
		}
	case "idle-hold": // a holder process of the idle scenario
		src := fs.String("source", "127.0.0.2", "loopback source address")
		creds := fs.String("creds", "", "JSON file of the devices' credentials")
		scenario = func() error { return idleHold(ctx, cfg.Target.URL, *src, *creds) }
	default:
		return fmt.Errorf("unknown scenario %q: relay, backlog, bundles, fanout or idle", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return scenario()
}
