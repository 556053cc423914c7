// Package routing sends each bucket to the provider that holds it: a routes file names
// targets (a provider's subject prefix, the headers it needs, a timeout, limits) and maps
// bucket patterns to them, in order, optionally under another name the provider knows the
// bucket by. A Router is a keyvalue.Store over all of them; it learns which interfaces each
// target serves, and reports each target's readiness.
package routing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// The routes file (--routes), in YAML:
//
//	targets:
//	  cache:                              # a name, used in routes, metrics and /readyz
//	    prefix: default.kvredis           # <lattice>.<provider id>
//	    headers: {source-id: gateway}     # sent with every call to it
//	    timeout: 2s                       # default: --timeout
//	    limits: {max_value_bytes: 1MiB, max_batch_items: 100, max_batch_body_bytes: 4MiB}
//	  local:
//	    embedded: true                    # the gateway's own provider
//	routes:                               # the first whose bucket pattern matches wins
//	  - bucket: sessions                  # an exact name, or a pattern with * (any run)
//	    target: durable
//	    as: default                       # the name the provider knows it by
//	    headers: {link-name: default}     # added to (and over) the target's for this route
//	  - bucket: "cache-*"
//	    target: cache
//	  - bucket: "*"
//	    target: local
//
// A bucket no route matches does not exist: 404 no-such-store, without a call.
type fileConfig struct {
	Targets map[string]fileTarget `yaml:"targets"`
	Routes  []fileRoute           `yaml:"routes"`
}

type fileTarget struct {
	Prefix   string            `yaml:"prefix"`
	Embedded bool              `yaml:"embedded"`
	Headers  map[string]string `yaml:"headers"`
	Timeout  string            `yaml:"timeout"`
	Limits   fileLimits        `yaml:"limits"`
}

type fileLimits struct {
	MaxValueBytes     string `yaml:"max_value_bytes"`
	MaxBatchItems     int    `yaml:"max_batch_items"`
	MaxBatchBodyBytes string `yaml:"max_batch_body_bytes"`
}

type fileRoute struct {
	Bucket  string            `yaml:"bucket"`
	Target  string            `yaml:"target"`
	As      string            `yaml:"as"`
	Headers map[string]string `yaml:"headers"`
}

// Limits a target lowers below the gateway's. Zero fields keep the gateway's.
type Limits struct {
	MaxValueBytes     int64 `json:"maxValueBytes,omitempty"`
	MaxBatchItems     int   `json:"maxBatchItems,omitempty"`
	MaxBatchBodyBytes int64 `json:"maxBatchBodyBytes,omitempty"`
}

// TargetConfig is a target as configured.
type TargetConfig struct {
	Name     string
	Prefix   string // for an embedded target, the embedded provider's
	Embedded bool
	Headers  [][2]string // in a stable order
	Timeout  time.Duration
	Limits   Limits
}

// RouteConfig is a route as configured.
type RouteConfig struct {
	Index   int    // position in the file, from 0
	Pattern string // the bucket pattern
	Target  string
	As      string // the provider's name of the bucket; "" for the same name
	Headers [][2]string
}

// Config is a whole routing table as configured.
type Config struct {
	Targets []TargetConfig // sorted by name
	Routes  []RouteConfig
}

// Defaults are what a routes file leaves to the gateway's flags.
type Defaults struct {
	// EmbeddedPrefix is the prefix of the gateway's embedded provider; "" when it runs none.
	EmbeddedPrefix string
	Timeout        time.Duration
	Limits         Limits // the gateway's own: targets may only lower them
}

// Load reads a routes file.
func Load(path string, d Defaults) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(data, d)
	if err != nil {
		return Config{}, fmt.Errorf("routes file %s: %w", path, err)
	}
	return c, nil
}

// Parse reads the text of a routes file. It accepts no unknown field: a misspelt key is an
// error, not a route that sends data elsewhere.
func Parse(data []byte, d Defaults) (Config, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("empty: it needs targets and routes")
		}
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	if len(fc.Targets) == 0 || len(fc.Routes) == 0 {
		return Config{}, errors.New("it needs at least one target and one route")
	}
	var c Config
	for name, ft := range fc.Targets {
		t, err := parseTarget(name, ft, d)
		if err != nil {
			return Config{}, fmt.Errorf("target %q: %w", name, err)
		}
		c.Targets = append(c.Targets, t)
	}
	slices.SortFunc(c.Targets, func(a, b TargetConfig) int { return strings.Compare(a.Name, b.Name) })
	for i, fr := range fc.Routes {
		r := RouteConfig{Index: i, Pattern: fr.Bucket, Target: fr.Target, As: fr.As, Headers: sortedHeaders(fr.Headers)}
		switch {
		case fr.Bucket == "":
			return Config{}, fmt.Errorf("route %d: no bucket pattern", i)
		case !hasTarget(fc.Targets, fr.Target):
			return Config{}, fmt.Errorf("route %d (%s): no target %q", i, fr.Bucket, fr.Target)
		case fr.As != "" && strings.Contains(fr.Bucket, "*"):
			return Config{}, fmt.Errorf("route %d (%s): as names one bucket, so the pattern must be one name", i, fr.Bucket)
		}
		if err := checkHeaders(fr.Headers); err != nil {
			return Config{}, fmt.Errorf("route %d (%s): %w", i, fr.Bucket, err)
		}
		c.Routes = append(c.Routes, r)
	}
	return c, nil
}

func hasTarget(m map[string]fileTarget, name string) bool { _, ok := m[name]; return ok }

func parseTarget(name string, ft fileTarget, d Defaults) (TargetConfig, error) {
	t := TargetConfig{Name: name, Prefix: ft.Prefix, Embedded: ft.Embedded, Headers: sortedHeaders(ft.Headers), Timeout: d.Timeout}
	switch {
	case !validName(name):
		return t, errors.New("a target's name is 1 to 64 of a-z A-Z 0-9 _ -")
	case ft.Embedded && ft.Prefix != "":
		return t, errors.New("embedded or prefix, not both")
	case ft.Embedded && d.EmbeddedPrefix == "":
		return t, errors.New("embedded, but the gateway runs no embedded provider (--provider none)")
	case ft.Embedded:
		t.Prefix = d.EmbeddedPrefix
	case ft.Prefix == "":
		return t, errors.New("no prefix (the provider's subject prefix, e.g. default.kvredis) and not embedded")
	}
	if err := checkHeaders(ft.Headers); err != nil {
		return t, err
	}
	if ft.Timeout != "" {
		to, err := time.ParseDuration(ft.Timeout)
		if err != nil || to <= 0 {
			return t, fmt.Errorf("timeout %q: want a positive duration such as 2s", ft.Timeout)
		}
		t.Timeout = to
	}
	var err error
	if t.Limits.MaxValueBytes, err = lowerSize("max_value_bytes", ft.Limits.MaxValueBytes, d.Limits.MaxValueBytes); err != nil {
		return t, err
	}
	if t.Limits.MaxBatchBodyBytes, err = lowerSize("max_batch_body_bytes", ft.Limits.MaxBatchBodyBytes, d.Limits.MaxBatchBodyBytes); err != nil {
		return t, err
	}
	if n := ft.Limits.MaxBatchItems; n != 0 {
		if n < 0 || d.Limits.MaxBatchItems > 0 && n > d.Limits.MaxBatchItems {
			return t, fmt.Errorf("max_batch_items %d: want 1 to the gateway's %d", n, d.Limits.MaxBatchItems)
		}
		t.Limits.MaxBatchItems = n
	}
	return t, nil
}

// lowerSize parses a size (16MiB, 512KiB, 1000) no larger than max.
func lowerSize(field, s string, max int64) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	if max > 0 && n > max {
		return 0, fmt.Errorf("%s %s: a target can only lower the gateway's limit of %d bytes", field, s, max)
	}
	return n, nil
}

// ParseSize reads 16MiB, 512KiB, 1GB or a plain number of bytes.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as 16MiB, got %q", s)
	}
	return n * mult, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkHeaders(h map[string]string) error {
	for k, v := range h {
		if k == "" || strings.ContainsAny(k, ": \r\n") || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("header %q: not a valid NATS header", k)
		}
	}
	return nil
}

func sortedHeaders(h map[string]string) [][2]string {
	out := make([][2]string, 0, len(h))
	for k, v := range h {
		out = append(out, [2]string{k, v})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// Single is the table of a gateway without a routes file: every bucket goes, under its own
// name, to the one provider the flags name.
func Single(prefix string, headers [][2]string, timeout time.Duration) Config {
	return Config{
		Targets: []TargetConfig{{Name: DefaultTarget, Prefix: prefix, Headers: headers, Timeout: timeout}},
		Routes:  []RouteConfig{{Pattern: "*", Target: DefaultTarget}},
	}
}

// DefaultTarget names the target of a gateway without a routes file.
const DefaultTarget = "default"
