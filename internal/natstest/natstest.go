// Package natstest runs embedded NATS servers for tests: each test gets its own server on a
// random loopback port, stopped when the test ends.
package natstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// An Option adjusts the server's options before it starts.
type Option func(*server.Options)

// JetStream enables JetStream with its store in dir.
func JetStream(dir string) Option {
	return func(o *server.Options) { o.JetStream = true; o.StoreDir = dir }
}

// MaxPayload sets the server's max_payload.
func MaxPayload(n int32) Option {
	return func(o *server.Options) { o.MaxPayload = n }
}

// Port sets the client port, for a server that restarts where clients find it again.
func Port(port int) Option {
	return func(o *server.Options) { o.Port = port }
}

// Token requires clients to authenticate with token.
func Token(token string) Option {
	return func(o *server.Options) { o.Authorization = token }
}

// UserPassword requires clients to authenticate as user with password.
func UserPassword(user, password string) Option {
	return func(o *server.Options) { o.Username, o.Password = user, password }
}

// Users requires clients to authenticate as one of users, each with its own permissions.
func Users(users ...*server.User) Option {
	return func(o *server.Options) { o.Users = append(o.Users, users...) }
}

// NKeyUser requires clients to authenticate as the nkey user whose public key is given.
func NKeyUser(publicKey string) Option {
	return func(o *server.Options) { o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: publicKey}) }
}

// Run starts a server on 127.0.0.1 and a random port.
func Run(t testing.TB, opts ...Option) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	for _, opt := range opts {
		opt(o)
	}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("natstest: server not ready for connections")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Connect opens a connection to ns, closed when the test ends.
func Connect(t testing.TB, ns *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TLSFiles are the PEM files of a TLS set-up made by TLS.
type TLSFiles struct {
	CA                    string // the CA that signed the server's (and client's) certificate
	ClientCert, ClientKey string // a client certificate, when clients must present one
}

// TLS serves clients over TLS with a certificate for 127.0.0.1 signed by a fresh CA. With
// verifyClients, clients must present a certificate signed by the same CA; one is written too.
func TLS(t testing.TB, dir string, verifyClients bool) (Option, TLSFiles) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("natstest: TLS: %v", err)
		}
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		must(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "natstest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		must(err)
		return der, key
	}
	files := TLSFiles{CA: write("ca.pem", "CERTIFICATE", caDER)}
	serverDER, serverKey := issue(2, x509.ExtKeyUsageServerAuth)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}},
		MinVersion:   tls.VersionTLS12,
	}
	if verifyClients {
		clientDER, clientKey := issue(3, x509.ExtKeyUsageClientAuth)
		keyDER, err := x509.MarshalECPrivateKey(clientKey)
		must(err)
		files.ClientCert = write("client.pem", "CERTIFICATE", clientDER)
		files.ClientKey = write("client-key.pem", "EC PRIVATE KEY", keyDER)
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = x509.NewCertPool()
		cfg.ClientCAs.AddCert(ca)
	}
	return func(o *server.Options) {
		o.TLS = true
		o.TLSVerify = verifyClients
		o.TLSConfig = cfg
	}, files
}

// Operator runs the server in operator (decentralized JWT) mode with one account, and writes
// a credentials file (user JWT and seed) for a user of that account into dir.
func Operator(t testing.TB, dir string) (Option, string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("natstest: operator: %v", err)
		}
	}
	opKP, err := nkeys.CreateOperator()
	must(err)
	opPub, err := opKP.PublicKey()
	must(err)
	op := jwt.NewOperatorClaims(opPub)
	opJWT, err := op.Encode(opKP)
	must(err)
	opClaims, err := jwt.DecodeOperatorClaims(opJWT)
	must(err)

	accKP, err := nkeys.CreateAccount()
	must(err)
	accPub, err := accKP.PublicKey()
	must(err)
	acc := jwt.NewAccountClaims(accPub)
	acc.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := acc.Encode(opKP)
	must(err)

	userKP, err := nkeys.CreateUser()
	must(err)
	userPub, err := userKP.PublicKey()
	must(err)
	userJWT, err := jwt.NewUserClaims(userPub).Encode(accKP)
	must(err)
	seed, err := userKP.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	credsFile := filepath.Join(dir, "user.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	resolver := &server.MemAccResolver{}
	must(resolver.Store(accPub, accJWT))
	return func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
		o.AccountResolver = resolver
	}, credsFile
}

// Cluster starts n servers with JetStream clustered on loopback, each with its store in a
// directory of its own under dir, and waits until JetStream has a meta leader. Clients may
// connect to any of them.
func Cluster(t testing.TB, dir string, n int, opts ...Option) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, n)
	for i := range n {
		all := append([]Option{JetStream(filepath.Join(dir, fmt.Sprintf("s%d", i))), func(o *server.Options) {
			o.ServerName = fmt.Sprintf("s%d", i)
			o.Cluster = server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = routes
		}}, opts...)
		servers[i] = Run(t, all...)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := true
		for _, s := range servers {
			ready = ready && s.JetStreamIsClustered() && s.JetStreamIsCurrent()
		}
		if ready {
			leader := false
			for _, s := range servers {
				leader = leader || s.JetStreamIsLeader()
			}
			if leader {
				return servers
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("natstest: the cluster has no JetStream meta leader after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
