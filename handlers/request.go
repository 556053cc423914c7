package handlers

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/wrpc-kv/gateway/auth"
)

// maxIncrementBodyBytes bounds the optional JSON body of increment; {"delta": n} needs ~40.
const maxIncrementBodyBytes = 4096

// input is what the gateway decoded from a request before its handler runs: path parameters
// decoded once and checked, and a JSON body read within its limit.
type input struct {
	bucket string
	key    string
	body   []byte // JSON routes only
	// release gives back the body budget the request reserved, once it is answered.
	release func()
}

// body says how an operation's request body is read before validation.
type body int

const (
	bodyNone body = iota
	// bodyRaw is a value's bytes: the handler reads it, within MaxValueBytes; the validator
	// leaves it alone so a 16 MiB value is not buffered twice.
	bodyRaw
	// bodyJSON is read whole (within its limit) before validation, which needs all of it.
	bodyJSON
)

// operation is one route: its method and chi pattern (which is also its OpenAPI path), the
// operationId the spec must give it, how its body is read and the handler.
type operation struct {
	method, pattern, id string
	body                body
	jsonLimit           func(h *handler, bucket string) int64
	serve               func(h *handler, w http.ResponseWriter, r *http.Request, in *input) error
	// public operations need no credentials; the others authenticate their caller.
	public bool
	// action, when set, is the permission the operation needs on its key (or bucket); the
	// others check their own (a listing, a batch's keys).
	action auth.Action
}

// handle decodes, validates and serves one request of op, answering any failure as a problem.
func (h *handler) handle(op *operation, route *routers.Route) http.Handler {
	hasBucket := strings.Contains(op.pattern, "{bucket}")
	hasKey := strings.Contains(op.pattern, "{key}")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		named(r, op.id, op.pattern)
		in := &input{}
		if !op.public {
			id, p := h.authenticate(r)
			if p != nil {
				writeError(w, r, p, in)
				return
			}
			if id != nil {
				r = r.WithContext(auth.WithIdentity(r.Context(), id))
				if rec := recordFrom(r.Context()); rec != nil {
					rec.caller, rec.authKind = id.ID, id.Kind
				}
			}
		}
		err := h.decode(w, r, op, route, in, hasBucket, hasKey)
		if err == nil {
			err = op.serve(h, w, r, in)
		}
		if err != nil {
			writeError(w, r, err, in)
		}
		if in.release != nil {
			in.release()
		}
	})
}

func (h *handler) decode(w http.ResponseWriter, r *http.Request, op *operation, route *routers.Route, in *input, hasBucket, hasKey bool) error {
	var err error
	params := make(map[string]string, 2)
	if hasBucket {
		if in.bucket, err = pathParam(r, "bucket", h.opts.MaxBucketBytes); err != nil {
			return err
		}
		params["bucket"] = in.bucket
	}
	if hasKey {
		if in.key, err = pathParam(r, "key", h.opts.MaxKeyBytes); err != nil {
			return err
		}
		params["key"] = in.key
	}

	if op.action != 0 {
		// Before the body is read: a caller without the permission costs no buffering.
		if err := authorize(r, op.action, in.bucket, in.key); err != nil {
			return err
		}
	}

	validation := &h.validateAll
	switch op.body {
	case bodyRaw:
		if limit := h.limits(in.bucket).MaxValueBytes; r.ContentLength > limit {
			return tooLarge("the value", limit)
		}
		validation = &h.validateNoBody
	case bodyJSON:
		if in.body, err = h.readJSON(w, r, in, op.jsonLimit(h, in.bucket)); err != nil {
			return err
		}
		// The validator reads the body again; hand it the bytes already read.
		data := in.body
		r.Body = io.NopCloser(bytes.NewReader(data))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		r.ContentLength = int64(len(data))
	}

	err = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    validation,
	})
	if err != nil {
		return validationProblem(err)
	}
	return nil
}

// pathParam decodes the path parameter name exactly once from the escaped path the router
// matched, so that %2F stays inside the key, and checks it: non-empty, valid UTF-8, at most
// max bytes. kin-openapi is handed the decoded value too, but these checks do not depend on
// how a given version of it decodes parameters.
func pathParam(r *http.Request, name string, max int) (string, error) {
	s, err := url.PathUnescape(chi.URLParam(r, name))
	switch {
	case err != nil:
		return "", newProblem(kindValidation, "path parameter %q is not valid percent-encoding", name)
	case s == "":
		return "", newProblem(kindValidation, "path parameter %q must not be empty", name)
	case !utf8.ValidString(s):
		return "", newProblem(kindValidation, "path parameter %q is not valid UTF-8 once percent-decoded", name)
	case len(s) > max:
		p := newProblem(kindURITooLong, "path parameter %q is %d bytes long; the limit is %d bytes", name, len(s), max)
		p.limit, p.hasLimit = int64(max), true
		return "", p
	}
	return s, nil
}

// readJSON reads a JSON request body of at most limit bytes. An empty body is returned as
// such (the validator decides whether the operation needs one); a non-empty one must be
// declared application/json and be valid UTF-8.
func (h *handler) readJSON(w http.ResponseWriter, r *http.Request, in *input, limit int64) ([]byte, error) {
	data, err := h.readBody(w, r, in, limit, "the request body")
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		if ct == "" {
			ct = "no Content-Type"
		}
		return nil, newProblem(kindMediaType, "the body must be application/json, not %s", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, newProblem(kindMediaType, "the body must be UTF-8 JSON, not charset %s", cs)
	}
	if !utf8.Valid(data) {
		return nil, newProblem(kindValidation, "the request body is not valid UTF-8")
	}
	return data, nil
}

// readError maps a failure to read a request body.
func readError(err error, what string, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(what, limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		p := newProblem(kindValidation, "%s ended before its Content-Length", what)
		p.cause = err
		return p
	}
	p := newProblem(kindValidation, "reading %s failed", what)
	p.cause = err
	return p
}

// validationProblem turns a kin-openapi validation error into a 400 that names the parameter
// or body field at fault. Schema errors contribute their reason only: their full text embeds
// the offending value, which may be a large or sensitive body.
func validationProblem(err error) *problem {
	p := &problem{kind: kindValidation, cause: err}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		p.detail = "the request does not match the API description"
		return p
	}
	reason := re.Reason
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		reason = schemaReason(se)
	} else if re.Err != nil && (reason == "" || reason == re.Err.Error()) {
		reason = re.Err.Error()
	} else if re.Err != nil {
		reason += ": " + re.Err.Error()
	}
	switch {
	case re.Parameter != nil:
		p.detail = re.Parameter.In + " parameter \"" + re.Parameter.Name + "\": " + reason
	case re.RequestBody != nil:
		switch {
		case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
			p.detail = "a request body is required"
		case se != nil && len(se.JSONPointer()) > 0:
			p.detail = "request body field \"/" + strings.Join(se.JSONPointer(), "/") + "\": " + reason
		default:
			p.detail = "request body: " + reason
		}
	default:
		p.detail = reason
	}
	return p
}

func schemaReason(se *openapi3.SchemaError) string {
	if se.Reason != "" {
		return se.Reason
	}
	return "does not match the schema's \"" + se.SchemaField + "\""
}
