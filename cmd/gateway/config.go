package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/wrpc-kv/gateway/provider/jetstream"
	"github.com/wrpc-kv/gateway/routing"
)

// config is everything the command line and the GATEWAY_* environment variables set.
type config struct {
	httpAddr    string
	natsURL     string
	natsListen  string
	dataDir     string
	provider    string
	prefix      string
	headers     headerFlag
	readyBucket string
	metricsAddr string
	routes      string
	replicas    int
	interfaces  listFlag // of the standalone provider

	authFile, jwtIssuer, jwtAudience, jwtJWKSURL, jwtJWKSFile, jwtClaim string
	jwtRate, anonymousRate                                              rateFlag
	allowUnauthenticated                                                bool
	tlsCert, tlsKey                                                     string
	timeout                                                             time.Duration
	maxValueBytes                                                       int64
	maxBuffered                                                         int64
	maxKeyBytes                                                         int
	maxBucketLen                                                        int
	corsOrigins                                                         listFlag
	maxBatchItems                                                       int
	createBuckets                                                       bool
	markerTTL                                                           time.Duration
	shutdownWait                                                        time.Duration
	logFormat                                                           string
	logLevel                                                            slog.Level

	natsCreds, natsNKey, natsUser, natsPassword, natsToken string
	natsTLSCA, natsTLSCert, natsTLSKey                     string
}

// headerFlag collects repeated --header k=v.
type headerFlag [][2]string

func (h *headerFlag) String() string {
	parts := make([]string, len(*h))
	for i, kv := range *h {
		parts[i] = kv[0] + "=" + kv[1]
	}
	return strings.Join(parts, ",")
}

// Set takes one k=v, or several separated by commas (the form of GATEWAY_HEADER).
func (h *headerFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", part)
		}
		*h = append(*h, [2]string{k, v})
	}
	return nil
}

// listFlag collects a repeatable flag; its variable takes a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// byteSize is an int64 flag that takes 16MiB, 512KiB, 1GB or a plain number of bytes.
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	return fmt.Sprint(*b.n)
}

func (b byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return fmt.Errorf("want a positive size such as 16MiB, got %q", s)
	}
	*b.n = n * mult
	return nil
}

const envPrefix = "GATEWAY_"

// envName is the environment variable of a flag: --http-addr is GATEWAY_HTTP_ADDR.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads the flags of a command (serve, or provider for the standalone provider),
// falling back to GATEWAY_* variables for flags not given on the command line.
func parseConfig(command string, args []string, getenv func(string) string, out io.Writer) (config, error) {
	cfg := config{logLevel: slog.LevelInfo}
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(out)

	gateway := command == "gateway"
	if gateway {
		fs.StringVar(&cfg.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address")
		fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "deadline of each wRPC call to the provider")
		fs.StringVar(&cfg.routes, "routes", "", "routes file: which provider (target) serves which buckets (YAML); without it every bucket\ngoes to --prefix with --header. Reloaded on change and SIGHUP")
		fs.StringVar(&cfg.readyBucket, "ready-bucket", routing.ReadyProbeKey, "bucket the readiness probe asks the provider about (keyvalue-nats serves only buckets\nnamed after its links: use a link name such as default)")
		fs.Var(&cfg.headers, "header", "static wRPC header `k=v` sent with every call, repeatable (wasmCloud providers need\nsource-id and link-name); the variable takes k=v,k2=v2")
		// The defaults fit the embedded JetStream provider's subject limit whatever the
		// characters: it stores each byte of a key outside [A-Za-z0-9_/.-], and of a bucket
		// name outside [a-z0-9-], as three.
		fs.IntVar(&cfg.maxKeyBytes, "max-key-bytes", 768, "longest key accepted, in UTF-8 bytes")
		fs.IntVar(&cfg.maxBucketLen, "max-bucket-bytes", 64, "longest bucket name accepted, in UTF-8 bytes")
		fs.Var(&cfg.corsOrigins, "cors-origin", "`origin` allowed to call the API from browser pages of other origins, repeatable;\n* allows any (default none: only pages the gateway serves)")
		fs.IntVar(&cfg.maxBatchItems, "max-batch-items", 1000, "most items in one batch request")
		cfg.maxBuffered = 256 << 20
		fs.Var(byteSize{&cfg.maxBuffered}, "max-buffered-bytes", "most request body bytes buffered at once across requests; a request that finds no room\nwithin 10s gets 503 (default 256MiB, at least the largest body a request may send)")
		fs.DurationVar(&cfg.shutdownWait, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests in flight")
		fs.StringVar(&cfg.natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (used without --nats-url)")
		fs.StringVar(&cfg.authFile, "auth-file", "", "API tokens that may call the API (YAML; see 'gateway token new'), reloaded on change and SIGHUP")
		fs.StringVar(&cfg.jwtIssuer, "jwt-issuer", "", "accept JWTs of this OpenID Connect issuer (exact iss; with --jwt-audience)")
		fs.StringVar(&cfg.jwtAudience, "jwt-audience", "", "the audience (aud) JWTs must be for")
		fs.StringVar(&cfg.jwtJWKSURL, "jwt-jwks-url", "", "the issuer's JWKS URL (default: from its discovery document)")
		fs.StringVar(&cfg.jwtJWKSFile, "jwt-jwks-file", "", "a local JWKS file of the issuer's keys instead, reloaded on change and SIGHUP")
		fs.StringVar(&cfg.jwtClaim, "jwt-permissions-claim", "kv", "the JWT claim holding the caller's permissions")
		fs.Var(&cfg.jwtRate, "jwt-rate-limit", "rate limit of each JWT subject, `requests-per-second:burst` (default none)")
		fs.Var(&cfg.anonymousRate, "anonymous-rate-limit", "rate limit, per client address, of requests without valid credentials when credentials\nare configured, `requests-per-second:burst` (default 5:20)")
		fs.BoolVar(&cfg.allowUnauthenticated, "allow-unauthenticated", false, "serve a non-loopback --http-addr without credentials configured: anyone who reaches it may\nread and write everything")
		fs.StringVar(&cfg.tlsCert, "tls-cert", "", "serve HTTPS (and HTTP/2) with this certificate file (PEM, with --tls-key), reloaded on change")
		fs.StringVar(&cfg.tlsKey, "tls-key", "", "the private key file of --tls-cert")
		fs.StringVar(&cfg.provider, "provider", "", "embedded provider: jetstream, memory or none (default jetstream with the embedded\nNATS server, none with --nats-url)")
	} else {
		fs.StringVar(&cfg.provider, "backend", "jetstream", "storage of the provider: jetstream (needs JetStream on the NATS server) or memory")
		fs.Var(&cfg.interfaces, "interfaces", "the interfaces the provider serves, comma-separated: store, atomics, batch (default all three)")
	}
	if gateway {
		fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve /metrics on this address instead of the HTTP API's (then the API answers it 404)")
	} else {
		fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve the provider's Prometheus metrics at /metrics on this address (default: none)")
	}
	fs.StringVar(&cfg.natsURL, "nats-url", "", "external NATS server(s), comma-separated; with it no NATS server is embedded")
	fs.StringVar(&cfg.dataDir, "data-dir", "data", "directory of the embedded NATS server's JetStream store")
	fs.StringVar(&cfg.prefix, "prefix", "default.keyvalue", "wRPC subject prefix of the provider (wasmCloud: <lattice>.<provider-id>)")
	cfg.maxValueBytes = 16 << 20
	fs.Var(byteSize{&cfg.maxValueBytes}, "max-value-bytes", "largest value accepted, e.g. 16MiB (default 16MiB)")
	fs.BoolVar(&cfg.createBuckets, "create-buckets", true, "the embedded provider creates buckets on first write; false answers no-such-store")
	fs.IntVar(&cfg.replicas, "replicas", 1, "replicas of the JetStream buckets the provider creates, 1 to 5 (more than 1 needs a\nJetStream cluster of at least as many servers); existing buckets keep theirs")
	fs.DurationVar(&cfg.markerTTL, "delete-marker-ttl", jetstream.DefaultMarkerTTL, "how long a deleted key's marker stays in the JetStream buckets the provider creates;\n0 keeps markers for ever (needs NATS server 2.11 or later, else markers are kept)")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.StringVar(&cfg.natsCreds, "nats-creds", "", "NATS credentials file (JWT and seed)")
	fs.StringVar(&cfg.natsNKey, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&cfg.natsUser, "nats-user", "", "NATS user name")
	fs.StringVar(&cfg.natsPassword, "nats-password", "", "NATS password")
	fs.StringVar(&cfg.natsToken, "nats-token", "", "NATS token")
	fs.StringVar(&cfg.natsTLSCA, "nats-tls-ca", "", "CA certificate file to verify the NATS server")
	fs.StringVar(&cfg.natsTLSCert, "nats-tls-cert", "", "client certificate file for NATS (with --nats-tls-key)")
	fs.StringVar(&cfg.natsTLSKey, "nats-tls-key", "", "client key file for NATS")

	fs.Usage = func() {
		if gateway {
			fmt.Fprint(out, "Usage: gateway [flags]\n       gateway provider [flags]\n\n"+
				"Serves the HTTP/JSON API of wrpc:keyvalue providers. With no flags it embeds a NATS\n"+
				"server with JetStream and a provider storing data in --data-dir.\n"+
				"'gateway provider --help' describes the standalone provider.\n\n")
		} else {
			fmt.Fprint(out, "Usage: gateway provider [flags]\n\n"+
				"Serves wrpc:keyvalue@0.2.0-draft (store, atomics, batch) over NATS, for gateways\n"+
				"and other wRPC clients sharing the NATS cluster.\n\n")
		}
		fmt.Fprintf(out, "Every flag can also be set by the variable %sNAME (e.g. --nats-url is %s).\n\nFlags:\n",
			envPrefix, envName("nats-url"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate(gateway)
}

func (c *config) validate(gateway bool) error {
	if gateway && c.provider == "" {
		c.provider = "jetstream"
		if c.natsURL != "" {
			c.provider = "none"
		}
	}
	switch c.provider {
	case "jetstream", "memory":
	case "none":
		if !gateway {
			return errors.New("--backend must be jetstream or memory")
		}
	default:
		return fmt.Errorf("--provider must be jetstream, memory or none, got %q", c.provider)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, got %q", c.logFormat)
	}
	if c.maxValueBytes > 64<<20 {
		return fmt.Errorf("--max-value-bytes can be at most 64MiB, got %d", c.maxValueBytes)
	}
	if gateway {
		loopback, err := isLoopback(c.httpAddr)
		if err != nil {
			return err
		}
		if !loopback && c.authFile == "" && c.jwtIssuer == "" && !c.allowUnauthenticated {
			return fmt.Errorf("--http-addr %s can be reached from other machines, and no credentials are configured: "+
				"anyone could read and write every bucket. Configure --auth-file or --jwt-issuer, or say "+
				"--allow-unauthenticated if something in front of the gateway authenticates its callers", c.httpAddr)
		}
	}
	if !gateway {
		for _, i := range c.interfaces {
			if i != "store" && i != "atomics" && i != "batch" {
				return fmt.Errorf("--interfaces: %q is not store, atomics or batch", i)
			}
		}
	}
	if gateway && c.readyBucket == "" {
		return errors.New("--ready-bucket must not be empty")
	}
	if gateway && (c.timeout <= 0 || c.maxKeyBytes <= 0 || c.maxBucketLen <= 0 || c.maxBatchItems <= 0) {
		return errors.New("--timeout, --max-key-bytes, --max-bucket-bytes and --max-batch-items must be positive")
	}
	if c.replicas < 1 || c.replicas > 5 {
		return fmt.Errorf("--replicas must be 1 to 5, got %d", c.replicas)
	}
	if c.markerTTL != 0 && c.markerTTL < time.Second {
		return fmt.Errorf("--delete-marker-ttl must be 0 or at least 1s, got %v", c.markerTTL)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if (c.jwtIssuer == "") != (c.jwtAudience == "") {
		return errors.New("--jwt-issuer and --jwt-audience go together")
	}
	if c.jwtIssuer == "" && (c.jwtJWKSURL != "" || c.jwtJWKSFile != "") {
		return errors.New("--jwt-jwks-url and --jwt-jwks-file need --jwt-issuer")
	}
	if (c.natsTLSCert == "") != (c.natsTLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	return nil
}
