package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/telemetry"
)

// startEmbeddedNATS starts the NATS server with JetStream that the gateway runs when no
// --nats-url is given. Its JetStream store is <data-dir>/jetstream.
func startEmbeddedNATS(cfg config, log *slog.Logger) (*server.Server, error) {
	host, portText, err := net.SplitHostPort(cfg.natsListen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: %w", cfg.natsListen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: bad port", cfg.natsListen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	storeDir, err := filepath.Abs(filepath.Join(cfg.dataDir, "jetstream"))
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: "gateway-embedded",
		Host:       host,
		Port:       port,
		NoSigs:     true, // the gateway handles signals and shuts the server down itself
		JetStream:  true,
		StoreDir:   storeDir,
		// max_payload stays at its stock 1 MiB: wRPC calls travel in messages of at most
		// that, and JetStream stores larger values in chunks, as it does on any server.
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start listening on %s", cfg.natsListen)
	}
	log.Info("embedded NATS server ready", "addr", ns.Addr().String(), "jetstream", storeDir)
	return ns, nil
}

// connectNATS connects to the embedded server in-process, or to --nats-url with the
// configured credentials and TLS.
func connectNATS(cfg config, ns *server.Server, name string, log *slog.Logger, m *telemetry.Metrics) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				m.SlowConsumer(name)
			}
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "conn", name, "subject", subject, "err", err)
		}),
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: the connection was closed on purpose
				log.Warn("NATS disconnected", "conn", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "conn", name, "url", nc.ConnectedUrlRedacted())
		}),
	}
	if ns != nil {
		opts = append(opts, nats.InProcessServer(ns))
		nc, err := nats.Connect("", opts...)
		if err == nil {
			m.WatchNATS(name, nc)
		}
		return nc, err
	}
	if cfg.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.natsCreds))
	}
	if cfg.natsNKey != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.natsNKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.natsUser != "" {
		opts = append(opts, nats.UserInfo(cfg.natsUser, cfg.natsPassword))
	}
	if cfg.natsToken != "" {
		opts = append(opts, nats.Token(cfg.natsToken))
	}
	if cfg.natsTLSCA != "" || cfg.natsTLSCert != "" {
		// Secure replaces the TLS configuration, so it goes before the options that add to it.
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if cfg.natsTLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.natsTLSCA))
	}
	if cfg.natsTLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.natsTLSCert, cfg.natsTLSKey))
	}
	// The first connection must succeed: a wrong address or credentials stop the gateway with
	// a clear error instead of retrying in silence. Later drops reconnect for ever.
	nc, err := nats.Connect(cfg.natsURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", cfg.natsURL, err)
	}
	m.WatchNATS(name, nc)
	return nc, nil
}

// natsLogger sends the embedded server's log lines to slog. Its notices (banner, start-up
// details) are Debug: the gateway logs the one line that matters, "embedded NATS server ready".
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l natsLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}
func (l natsLogger) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
