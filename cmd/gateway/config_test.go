package main

import (
	"io"
	"testing"
	"time"
)

func TestConfigFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{
		"GATEWAY_HTTP_ADDR":             "0.0.0.0:9000",
		"GATEWAY_ALLOW_UNAUTHENTICATED": "true",
		"GATEWAY_TIMEOUT":               "3s",
		"GATEWAY_HEADER":                "source-id=gw,link-name=default",
		"GATEWAY_MAX_VALUE_BYTES":       "2MiB",
		"GATEWAY_PREFIX":                "from-env",
		"GATEWAY_DELETE_MARKER_TTL":     "0",
	}
	cfg, err := parseConfig("gateway", []string{"--prefix", "from-flag"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.httpAddr != "0.0.0.0:9000" || cfg.timeout != 3*time.Second || cfg.maxValueBytes != 2<<20 {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.markerTTL != 0 {
		t.Errorf("delete marker TTL = %v; GATEWAY_DELETE_MARKER_TTL=0 keeps markers", cfg.markerTTL)
	}
	if cfg.prefix != "from-flag" {
		t.Errorf("prefix = %q; a flag on the command line wins over GATEWAY_PREFIX", cfg.prefix)
	}
	if len(cfg.headers) != 2 || cfg.headers[0] != [2]string{"source-id", "gw"} || cfg.headers[1] != [2]string{"link-name", "default"} {
		t.Errorf("headers = %v", cfg.headers)
	}
	if cfg.provider != "jetstream" {
		t.Errorf("provider = %q; want jetstream with the embedded server", cfg.provider)
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := parseConfig("gateway", []string{"--nats-url", "nats://127.0.0.1:4222"}, none, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.provider != "none" || cfg.httpAddr != "127.0.0.1:8080" || cfg.maxValueBytes != 16<<20 || cfg.markerTTL != 15*time.Minute {
		t.Errorf("defaults with --nats-url: %+v", cfg)
	}
	for _, args := range [][]string{
		{"--provider", "redis"},
		{"--header", "novalue"},
		{"--max-value-bytes", "-1"},
		{"--max-value-bytes", "65MiB"},
		{"--log-format", "xml"},
		{"--delete-marker-ttl", "500ms"},
		{"--nats-tls-cert", "c.pem"},
		{"--tls-cert", "c.pem"},
		{"--jwt-issuer", "https://issuer.example"},
		{"--jwt-jwks-file", "keys.json"},
		{"--anonymous-rate-limit", "0"},
		{"stray"},
		// Reachable from other machines with no credentials configured.
		{"--http-addr", "0.0.0.0:8080"},
		{"--http-addr", ":8080"},
		{"--http-addr", "[::]:8080"},
		{"--http-addr", "10.1.2.3:8080"},
		{"--http-addr", "gateway.internal:8080"},
	} {
		if _, err := parseConfig("gateway", args, none, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	for _, args := range [][]string{
		{"--http-addr", "localhost:8080"},
		{"--http-addr", "[::1]:8080"},
		{"--http-addr", "127.0.0.2:8080"},
		{"--http-addr", "0.0.0.0:8080", "--auth-file", "auth.yaml"},
		{"--http-addr", "0.0.0.0:8080", "--jwt-issuer", "https://issuer.example", "--jwt-audience", "kv"},
		{"--http-addr", "0.0.0.0:8080", "--allow-unauthenticated"},
	} {
		if _, err := parseConfig("gateway", args, none, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := parseConfig("gateway", nil, func(k string) string {
		if k == "GATEWAY_TIMEOUT" {
			return "soon"
		}
		return ""
	}, io.Discard); err == nil {
		t.Error("GATEWAY_TIMEOUT=soon accepted")
	}
	if _, err := parseConfig("provider", []string{"--backend", "none"}, none, io.Discard); err == nil {
		t.Error("provider --backend none accepted")
	}
}
