package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// readmeExample is one command of a ```console block in README.md and the output it shows.
type readmeExample struct {
	line    int
	command string
	want    []string // "..." stands for any number of lines
}

// readmeExamples reads the ```console blocks of README.md: lines starting with "$ " are
// commands (a trailing backslash continues one), the lines after them their output.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []readmeExample
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "```console":
			in = true
		case in && line == "```":
			in = false
		case in && strings.HasPrefix(line, "$ "):
			out = append(out, readmeExample{line: n, command: strings.TrimPrefix(line, "$ ")})
		case in && len(out) > 0 && strings.HasSuffix(out[len(out)-1].command, "\\"):
			out[len(out)-1].command += "\n" + line
		case in && len(out) > 0:
			out[len(out)-1].want = append(out[len(out)-1].want, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// matches compares output lines with the wanted ones, where "..." matches any lines.
func matches(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matches(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && matches(got[1:], want[1:])
}

// TestReadmeExamples runs the README's curl examples, in order, against a gateway started
// with its defaults on a fresh data directory, and compares what they print.
func TestReadmeExamples(t *testing.T) {
	examples := readmeExamples(t)
	if len(examples) < 20 {
		t.Fatalf("found %d examples in README.md; the console blocks seem to be gone", len(examples))
	}
	gw := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
	secured, env := securedGateway(t)
	for _, ex := range examples {
		cmd := strings.ReplaceAll(ex.command, "http://127.0.0.1:8080", gw.url)
		cmd = strings.ReplaceAll(cmd, "https://127.0.0.1:8443", secured.url)
		c := exec.Command("bash", "-c", cmd)
		c.Env = append(os.Environ(), env...)
		c.Dir = "../.." // examples may name files of the repository
		out, err := c.CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: %s: %v\n%s", ex.line, ex.command, err, out)
			continue
		}
		got := strings.Split(strings.TrimRight(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
		if len(out) == 0 {
			got = nil
		}
		if !matches(got, ex.want) {
			t.Errorf("README.md:%d: %s\nprinted:\n%s\nREADME shows:\n%s", ex.line, ex.command,
				strings.Join(got, "\n"), strings.Join(ex.want, "\n"))
		}
	}
}

// securedGateway is the gateway of the README's authentication examples: API tokens, JWTs of
// an issuer whose keys are in a local JWKS file, and TLS. It returns the gateway and the
// environment the examples name: TOKEN (*:demo), READER (read:demo), JWT (kv read:demo),
// CERT (the certificate).
func securedGateway(t *testing.T) (*gatewayProc, []string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key, 1)
	writer, writerEntry := newToken(t, "writer", "*:demo")
	reader, readerEntry := newToken(t, "reader", "read:demo")
	authFile := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(authFile, []byte("tokens:\n"+writerEntry+readerEntry), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &signer.PublicKey, KeyID: "readme", Algorithm: "RS256", Use: "sig"}}})
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	const issuer, audience = "https://issuer.example", "wrpc-kv"
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: signer, KeyID: "readme"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "aud": audience, "sub": "svc-billing",
		"exp": time.Now().Add(time.Hour).Unix(), "kv": "read:demo"})
	obj, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	jwt, _ := obj.CompactSerialize()
	gw := startGateway(t, "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:0",
		"--auth-file", authFile, "--jwt-issuer", issuer, "--jwt-audience", audience, "--jwt-jwks-file", jwksFile,
		"--tls-cert", cert, "--tls-key", key)
	return gw, []string{"TOKEN=" + writer, "READER=" + reader, "JWT=" + jwt, "CERT=" + cert}
}
