package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/wrpc-kv/gateway/internal/filewatch"
)

// certReloader serves the certificate of --tls-cert and --tls-key, and loads it again when
// either file changes, so a renewed certificate is served without a restart. A pair that
// does not load leaves the last good one in use.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
	mod               [2]time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	mod := [2]time.Time{filewatch.ModTime(c.certFile), filewatch.ModTime(c.keyFile)}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	c.mod = mod
	return nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// watch reloads the pair when a file changes, checking every interval until ctx ends.
func (c *certReloader) watch(ctx context.Context, interval time.Duration) {
	filewatch.Poll(ctx, interval, func() {
		if filewatch.ModTime(c.certFile).Equal(c.mod[0]) && filewatch.ModTime(c.keyFile).Equal(c.mod[1]) {
			return
		}
		if err := c.load(); err != nil {
			// Said once per change: the next change of either file tries again (both are
			// often replaced one after the other).
			c.mod = [2]time.Time{filewatch.ModTime(c.certFile), filewatch.ModTime(c.keyFile)}
			c.log.Warn("TLS certificate not reloaded; the previous one is still served", "err", err)
			return
		}
		c.log.Info("TLS certificate reloaded", "cert", c.certFile)
	})
}

// tlsConfig serves the reloader's certificate over TLS 1.2 or later; HTTP/2 is offered by
// the server's ServeTLS.
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate}
}
