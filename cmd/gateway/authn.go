package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/wrpc-kv/gateway/auth"
)

// startAuth sets up authentication and TLS as the flags say, and refuses what would be
// unsafe: an address other machines can reach, with no credentials configured, unless
// --allow-unauthenticated says so.
func startAuth(ctx context.Context, cfg config, log *slog.Logger) (*auth.Authenticator, *certReloader, error) {
	acfg := auth.Config{TokenFile: cfg.authFile, Logger: log}
	if cfg.anonymousRate.set {
		acfg.Anonymous = cfg.anonymousRate.l
	}
	if cfg.jwtIssuer != "" {
		j := &auth.JWTConfig{Issuer: cfg.jwtIssuer, Audience: cfg.jwtAudience, JWKSURL: cfg.jwtJWKSURL,
			JWKSFile: cfg.jwtJWKSFile, PermissionsClaim: cfg.jwtClaim}
		if cfg.jwtRate.set {
			l := cfg.jwtRate.l
			j.RateLimit = &l
		}
		acfg.JWT = j
	}
	authn, err := auth.New(ctx, acfg)
	if err != nil {
		return nil, nil, err
	}
	if authn.Enabled() {
		go authn.Watch(ctx, reloadInterval)
	}
	var certs *certReloader
	if cfg.tlsCert != "" {
		if certs, err = newCertReloader(cfg.tlsCert, cfg.tlsKey, log); err != nil {
			return nil, nil, err
		}
	}
	loopback, _ := isLoopback(cfg.httpAddr) // checked by config.validate
	switch {
	case !loopback && !authn.Enabled():
		log.Warn("serving without authentication on an address other machines can reach (--allow-unauthenticated)", "addr", cfg.httpAddr)
	case !loopback && certs == nil:
		log.Warn("credentials will travel in clear text: serving plain HTTP on an address other machines can reach; "+
			"give --tls-cert and --tls-key, or put a TLS proxy in front", "addr", cfg.httpAddr)
	}
	return authn, certs, nil
}

// isLoopback reports whether addr listens on loopback interfaces only. An empty host, an
// unspecified address or a name that is not localhost listens beyond them.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("--http-addr %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if ip == nil {
		return false, nil
	}
	return ip.IsLoopback(), nil
}

func authDescription(a *auth.Authenticator) string {
	if !a.Enabled() {
		return "off"
	}
	return strings.Join(a.Kinds(), ", ")
}
