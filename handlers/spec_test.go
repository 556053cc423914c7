package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	gateway "github.com/wrpc-kv/gateway"
)

// The file as committed is a valid OpenAPI document, examples and formats included.
func TestOpenAPIFileValidates(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(gateway.OpenAPIYAML)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background(),
		openapi3.EnableExamplesValidation(), openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q; want 3.0.3", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("servers = %v; want one relative server /", doc.Servers)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) != 1 {
				t.Errorf("%s %s: operationId, summary, description and one tag are required", method, path)
			}
		}
	}
}

// With default options the served YAML is the file byte for byte, and the JSON has the same
// content.
func TestOpenAPIServedDefaults(t *testing.T) {
	g := newGW(t, Options{})
	y := g.get(t, "/openapi.yaml")
	wantStatus(t, "GET", "/openapi.yaml", y, http.StatusOK)
	if !bytes.Equal(y.body, gateway.OpenAPIYAML) {
		t.Errorf("GET /openapi.yaml differs from openapi.yaml with default limits")
	}
	j := g.get(t, "/openapi.json")
	wantStatus(t, "GET", "/openapi.json", j, http.StatusOK)
	if ct := j.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /openapi.json Content-Type = %q", ct)
	}
	if !reflect.DeepEqual(yamlContent(t, y.body), jsonContent(t, j.body)) {
		t.Errorf("GET /openapi.yaml and GET /openapi.json differ in content")
	}
	// Exact digits survive: a float64 round trip would not keep 2^64-1.
	if !bytes.Contains(j.body, []byte(`"maximum":18446744073709551615`)) {
		t.Errorf("GET /openapi.json lost the exact maximum of delta")
	}
}

// Configured limits are written into the served document, which the server validates with.
func TestOpenAPIServedLimits(t *testing.T) {
	g := newGW(t, Options{MaxKeyBytes: 100, MaxBucketBytes: 50, MaxBatchItems: 5, MaxValueBytes: 3000,
		MaxBatchBodyBytes: 9999, MaxListCalls: 3})
	y, j := g.get(t, "/openapi.yaml"), g.get(t, "/openapi.json")
	if !reflect.DeepEqual(yamlContent(t, y.body), jsonContent(t, j.body)) {
		t.Errorf("GET /openapi.yaml and GET /openapi.json differ in content")
	}
	s := g.doc.Components.Schemas
	checks := []struct {
		name string
		got  any
		want uint64
	}{
		{"Key.maxLength", s["Key"].Value.MaxLength, 100},
		{"Bucket.maxLength", s["Bucket"].Value.MaxLength, 50},
		{"Value.maxLength", s["Value"].Value.MaxLength, 3000},
		{"BatchValue.maxLength", s["BatchValue"].Value.MaxLength, 4000},
		{"BatchKeys.keys.maxItems", s["BatchKeys"].Value.Properties["keys"].Value.MaxItems, 5},
		{"BatchSetRequest.items.maxItems", s["BatchSetRequest"].Value.Properties["items"].Value.MaxItems, 5},
		{"BatchGetResponse.items.maxItems", s["BatchGetResponse"].Value.Properties["items"].Value.MaxItems, 5},
	}
	for _, c := range checks {
		if p, ok := c.got.(*uint64); !ok || p == nil || *p != c.want {
			t.Errorf("served %s = %v; want %d", c.name, c.got, c.want)
		}
	}
	limits := g.doc.Info.Extensions["x-limits"].(map[string]any)
	for name, want := range map[string]float64{"maxKeyBytes": 100, "maxBucketBytes": 50, "maxBatchItems": 5,
		"maxValueBytes": 3000, "maxBatchBodyBytes": 9999, "maxListProviderCalls": 3} {
		if got, _ := limits[name].(float64); got != want {
			t.Errorf("served info.x-limits.%s = %v; want %v", name, limits[name], want)
		}
	}
	// The limits are the ones enforced: a 6-item batch is refused by the validator.
	res := g.postJSON(t, "/buckets/b/batch/get", `{"keys":["1","2","3","4","5","6"]}`)
	wantProblem(t, "POST", "/buckets/b/batch/get", res, http.StatusBadRequest, "/problems/validation", "/keys")
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Errorf("New without a Store succeeded")
	}
	if _, err := New(Options{Store: errStore{}, MaxKeyBytes: -1}); err == nil {
		t.Errorf("New with a negative limit succeeded")
	}
	if _, err := New(Options{Store: errStore{}, MaxBufferedBytes: 1 << 20}); err == nil {
		t.Errorf("New with a body budget smaller than the largest body succeeded")
	}
}

// yamlContent and jsonContent decode a document into comparable values, numbers as their
// decimal text.
func yamlContent(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return normalize(v)
}

func jsonContent(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("json: %v", err)
	}
	return normalize(v)
}

func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = normalize(e)
		}
		return s
	case json.Number:
		return "num:" + v.String()
	case int:
		return "num:" + strconv.Itoa(v)
	case uint64:
		return "num:" + strconv.FormatUint(v, 10)
	case int64:
		return "num:" + strconv.FormatInt(v, 10)
	case float64:
		return "num:" + strconv.FormatFloat(v, 'g', -1, 64)
	}
	return v
}
