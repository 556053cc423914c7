package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

// spec is the OpenAPI document as served and as requests are validated against: the embedded
// openapi.yaml with the configured limits written into it.
type spec struct {
	yaml []byte
	json []byte
	doc  *openapi3.T
}

// limitPatch names a scalar of the document by its path from the root (mapping keys, or
// "name=x" to pick the element of a sequence whose "name" is x) and the value to write there.
type limitPatch struct {
	path  []string
	value uint64
}

// limitPatches lists every place of openapi.yaml that states a configurable limit.
func limitPatches(o *Options) []limitPatch {
	batchValueChars := base64Len(o.MaxValueBytes)
	p := func(v uint64, path ...string) limitPatch { return limitPatch{path: path, value: v} }
	return []limitPatch{
		p(uint64(o.MaxValueBytes), "info", "x-limits", "maxValueBytes"),
		p(uint64(o.MaxKeyBytes), "info", "x-limits", "maxKeyBytes"),
		p(uint64(o.MaxBucketBytes), "info", "x-limits", "maxBucketBytes"),
		p(uint64(o.MaxBatchItems), "info", "x-limits", "maxBatchItems"),
		p(uint64(o.MaxBatchBodyBytes), "info", "x-limits", "maxBatchBodyBytes"),
		p(uint64(o.MaxBatchResultBytes), "info", "x-limits", "maxBatchResultBytes"),
		p(maxIncrementBodyBytes, "info", "x-limits", "maxIncrementBodyBytes"),
		p(maxListLimit, "info", "x-limits", "maxListLimit"),
		p(uint64(o.MaxListCalls), "info", "x-limits", "maxListProviderCalls"),
		p(uint64(o.MaxBufferedBytes), "info", "x-limits", "maxBufferedBytes"),
		p(uint64(o.BodyIdleTimeout/time.Second), "info", "x-limits", "bodyIdleSeconds"),
		p(uint64(o.MaxBucketBytes), "components", "schemas", "Bucket", "maxLength"),
		p(uint64(o.MaxKeyBytes), "components", "schemas", "Key", "maxLength"),
		p(uint64(o.MaxValueBytes), "components", "schemas", "Value", "maxLength"),
		p(batchValueChars, "components", "schemas", "BatchValue", "maxLength"),
		p(batchValueChars, "components", "schemas", "BatchGetItem", "properties", "value", "maxLength"),
		p(uint64(o.MaxBatchItems), "components", "schemas", "BatchKeys", "properties", "keys", "maxItems"),
		p(uint64(o.MaxBatchItems), "components", "schemas", "BatchSetRequest", "properties", "items", "maxItems"),
		p(uint64(o.MaxBatchItems), "components", "schemas", "BatchGetResponse", "properties", "items", "maxItems"),
		p(maxListLimit, "paths", "/buckets/{bucket}/keys", "get", "parameters", "name=limit", "schema", "maximum"),
		p(uint64(o.MaxKeyBytes), "paths", "/buckets/{bucket}/keys", "get", "parameters", "name=prefix", "schema", "maxLength"),
		p(maxListLimit, "components", "schemas", "KeyPage", "properties", "keys", "maxItems"),
	}
}

// base64Len is the length of the padded standard base64 encoding of n bytes.
func base64Len(n int64) uint64 {
	return uint64((n + 2) / 3 * 4)
}

// loadSpec patches the limits of o into the YAML document src, derives the JSON form and loads
// and validates the result. The YAML keeps its text, comments and order; only the numbers of
// the patched scalars change.
func loadSpec(ctx context.Context, src []byte, o *Options) (*spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	type edit struct {
		off, end int
		text     string
	}
	lineStarts := lineOffsets(src)
	var edits []edit
	for _, p := range limitPatches(o) {
		n, err := lookupNode(&root, p.path)
		if err != nil {
			return nil, fmt.Errorf("openapi.yaml: %s: %w", strings.Join(p.path, "."), err)
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return nil, fmt.Errorf("openapi.yaml: %s is not an integer", strings.Join(p.path, "."))
		}
		if n.Line < 1 || n.Line > len(lineStarts) {
			return nil, fmt.Errorf("openapi.yaml: %s: no position", strings.Join(p.path, "."))
		}
		off := lineStarts[n.Line-1] + n.Column - 1
		end := off + len(n.Value)
		if off < 0 || end > len(src) || string(src[off:end]) != n.Value {
			return nil, fmt.Errorf("openapi.yaml: %s: cannot locate %q in the text", strings.Join(p.path, "."), n.Value)
		}
		edits = append(edits, edit{off, end, strconv.FormatUint(p.value, 10)})
	}
	slices.SortFunc(edits, func(a, b edit) int { return b.off - a.off })
	out := slices.Clone(src)
	for _, e := range edits {
		out = slices.Concat(out[:e.off], []byte(e.text), out[e.end:])
	}

	if o.Auth.Enabled() {
		// Credentials are configured: every operation but the public ones needs them, and the
		// document says so (without the alternative of none), so that generated clients and
		// testers treat the token as required.
		const optional = "security:\n  - bearerAuth: []\n  - {}\n"
		if !bytes.Contains(out, []byte(optional)) {
			return nil, errors.New("openapi.yaml: the top-level security is not bearerAuth or none")
		}
		out = bytes.Replace(out, []byte(optional), []byte("security:\n  - bearerAuth: []\n"), 1)
	}
	js, err := yamlToJSON(out)
	if err != nil {
		return nil, err
	}

	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(out)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	// The gateway authenticates every request itself before validating it (handle). Left in
	// the document requests are validated with, the security requirements would make
	// kin-openapi read each request body whole into memory, to hand it to an authentication
	// function, before the gateway's own body limits apply. The served document keeps them.
	doc.Security = nil
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			op.Security = nil
		}
	}
	return &spec{yaml: out, json: js, doc: doc}, nil
}

// lineOffsets returns the byte offset at which each line of src starts.
func lineOffsets(src []byte) []int {
	offs := []int{0}
	for i, b := range src {
		if b == '\n' {
			offs = append(offs, i+1)
		}
	}
	return offs
}

// lookupNode follows path from a document node.
func lookupNode(n *yaml.Node, path []string) (*yaml.Node, error) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, step := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == step {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			field, want, ok := strings.Cut(step, "=")
			if !ok {
				return nil, fmt.Errorf("step %q into a sequence needs field=value", step)
			}
			for _, el := range n.Content {
				if v, err := lookupNode(el, []string{field}); err == nil && v.Value == want {
					next = el
					break
				}
			}
		}
		if next == nil {
			return nil, fmt.Errorf("no %q", step)
		}
		n = next
	}
	return n, nil
}

// appendJSON writes the YAML node n as JSON, keeping the order of mapping keys and the exact
// digits of integers (a float64 round trip would turn 18446744073709551615 into
// 18446744073709552000).
func appendJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: a document must hold one node", n.Line)
		}
		return appendJSON(buf, n.Content[0])
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: mapping keys must be plain scalars", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendJSONString(buf, k.Value); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := appendJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, el := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendJSON(buf, el); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return appendJSONString(buf, n.Value)
		case "!!int":
			if u, err := strconv.ParseUint(n.Value, 0, 64); err == nil {
				buf.WriteString(strconv.FormatUint(u, 10))
				return nil
			}
			i, err := strconv.ParseInt(n.Value, 0, 64)
			if err != nil {
				return fmt.Errorf("line %d: integer %q: %w", n.Line, n.Value, err)
			}
			buf.WriteString(strconv.FormatInt(i, 10))
			return nil
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return fmt.Errorf("line %d: number %q has no JSON form", n.Line, n.Value)
			}
			buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
			return nil
		case "!!bool":
			b, err := strconv.ParseBool(n.Value)
			if err != nil {
				return fmt.Errorf("line %d: boolean %q: %w", n.Line, n.Value, err)
			}
			buf.WriteString(strconv.FormatBool(b))
			return nil
		case "!!null":
			buf.WriteString("null")
			return nil
		}
		return fmt.Errorf("line %d: scalar tag %s has no JSON form", n.Line, n.ShortTag())
	}
	return fmt.Errorf("line %d: YAML node kind %v (aliases, anchors) has no JSON form here", n.Line, n.Kind)
}

func appendJSONString(buf *bytes.Buffer, s string) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode ends with a newline
	return nil
}

// yamlToJSON is the JSON form of a YAML document, keys in their order.
func yamlToJSON(src []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(src, &n); err != nil {
		return nil, fmt.Errorf("parse patched openapi.yaml: %w", err)
	}
	var buf bytes.Buffer
	if err := appendJSON(&buf, &n); err != nil {
		return nil, fmt.Errorf("openapi.yaml as JSON: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// servedSpec is the document as served: the spec with the routing table's info.x-routes.
type servedSpec struct {
	version    uint64
	yaml, json []byte
}

// withRoutes returns the document with info.x-routes stating routes, written just before
// info.x-limits: the text of the rest stays as it is.
func (sp *spec) withRoutes(routes any) (yamlText, jsonText []byte, err error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any{"x-routes": routes}); err != nil {
		return nil, nil, err
	}
	var block bytes.Buffer
	for line := range bytes.Lines(b.Bytes()) {
		block.WriteString("  ")
		block.Write(line)
	}
	at := bytes.Index(sp.yaml, []byte("\n  x-limits:\n"))
	if at < 0 {
		return nil, nil, fmt.Errorf("openapi.yaml: no info.x-limits to put info.x-routes before")
	}
	out := slices.Concat(sp.yaml[:at+1], block.Bytes(), sp.yaml[at+1:])
	js, err := yamlToJSON(out)
	if err != nil {
		return nil, nil, err
	}
	return out, js, nil
}
