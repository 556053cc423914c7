package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TracingConfigured reports whether the standard OpenTelemetry environment asks for traces:
// an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or an
// exporter other than none (OTEL_TRACES_EXPORTER), unless OTEL_SDK_DISABLED is true. Tracing
// is off otherwise: nothing is exported and no span is recorded.
func TracingConfigured(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); {
	case exp == "none":
		return false
	case exp != "":
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing returns a tracer provider configured by the standard OpenTelemetry environment, or
// nil when TracingConfigured says tracing is off. The exporter (OTEL_TRACES_EXPORTER: otlp by
// default, console), its protocol (OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf by default, or
// grpc), endpoint, headers and timeout, the sampler (OTEL_TRACES_SAMPLER, _ARG: parent-based
// always-on by default), the batching (OTEL_BSP_*) and the resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES) all come from the environment; service names the process when
// OTEL_SERVICE_NAME does not. Shut it down at exit, so the last spans are sent.
func Tracing(ctx context.Context, service string) (*sdktrace.TracerProvider, error) {
	if !TracingConfigured(os.Getenv) {
		return nil, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry span exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
	)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
