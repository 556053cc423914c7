package handlers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// valueCSP keeps stored bytes from ever running as active content on the gateway's origin.
const valueCSP = "default-src 'none'; sandbox"

func (h *handler) getValue(w http.ResponseWriter, r *http.Request, in *input) error {
	v, ok, err := h.store.Get(r.Context(), in.bucket, in.key)
	if err != nil {
		return err
	}
	if !ok {
		return newProblem(kindNoSuchKey, "key %q does not exist in bucket %q", in.key, in.bucket)
	}
	tag := etag(v)
	hdr := w.Header()
	hdr.Set("ETag", tag)
	hdr.Set("Cache-Control", "no-cache")
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 && etagMatches(inm, tag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.Itoa(len(v)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", valueCSP)
	w.WriteHeader(http.StatusOK)
	h.writeValue(w, r, v)
	return nil
}

// writeValue sends v in pieces, each with BodyIdleTimeout to go out: a client that stops
// reading loses the connection after that long, and the value it held in memory is freed.
// Slow but steady readers are not limited.
func (h *handler) writeValue(w http.ResponseWriter, r *http.Request, v []byte) {
	const piece = 256 << 10
	rc := http.NewResponseController(w)
	// A value of one piece or less costs little to hold, and the socket's buffer takes it.
	if len(v) <= piece || rc.SetWriteDeadline(time.Time{}) != nil { // or not a server connection
		_, _ = w.Write(v)
		return
	}
	// Cleared at the end: the connection may serve further requests.
	defer rc.SetWriteDeadline(time.Time{})
	for len(v) > 0 {
		n := min(len(v), piece)
		if rc.SetWriteDeadline(time.Now().Add(h.opts.BodyIdleTimeout)) != nil {
			return
		}
		if _, err := w.Write(v[:n]); err != nil {
			if rec := recordFrom(r.Context()); rec != nil {
				rec.err = fmt.Errorf("sending the value: %w", err)
			}
			return
		}
		v = v[n:]
	}
	_ = rc.Flush() // while the deadline holds
}

// etag is a strong entity tag for value: 128 bits of its SHA-256, base64url.
func etag(value []byte) string {
	sum := sha256.Sum256(value)
	var b [2 + 22]byte
	b[0] = '"'
	base64.RawURLEncoding.Encode(b[1:23], sum[:16])
	b[23] = '"'
	return string(b[:])
}

// etagMatches reports whether an If-None-Match field (possibly several lines) matches tag,
// with the weak comparison RFC 9110 prescribes for it: W/"x" matches "x"; "*" matches any.
func etagMatches(fields []string, tag string) bool {
	for _, f := range fields {
		for t := range strings.SplitSeq(f, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == tag {
				return true
			}
		}
	}
	return false
}

func (h *handler) headValue(w http.ResponseWriter, r *http.Request, in *input) error {
	ok, err := h.store.Exists(r.Context(), in.bucket, in.key)
	if err != nil {
		return err
	}
	if !ok {
		return newProblem(kindNoSuchKey, "key %q does not exist in bucket %q", in.key, in.bucket)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// putValue stores the body verbatim, whatever its Content-Type. A body over MaxValueBytes is
// refused from its Content-Length before any of it is read, and otherwise (chunked) as soon
// as the limit is passed; an empty body is an empty value.
func (h *handler) putValue(w http.ResponseWriter, r *http.Request, in *input) error {
	limit := h.limits(in.bucket).MaxValueBytes
	if ss, ok := h.store.(keyvalue.SetStreamer); ok && r.ContentLength > streamChunk && r.ContentLength <= limit {
		return h.streamValue(w, r, in, ss)
	}
	v, err := h.readBody(w, r, in, limit, "the value")
	if err != nil {
		return err
	}
	if err := h.store.Set(r.Context(), in.bucket, in.key, v); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// streamValue sends a body of declared length on to the provider as it arrives: a large
// value is never held whole (see keyvalue.SetStreamer). Only a piece of it is, so a piece is
// what it takes of the body budget.
func (h *handler) streamValue(w http.ResponseWriter, r *http.Request, in *input, ss keyvalue.SetStreamer) error {
	limit := h.limits(in.bucket).MaxValueBytes
	release, err := h.budget.reserve(r.Context(), streamChunk)
	if err != nil {
		return err
	}
	in.release = release
	body, done := h.bodyReader(w, r, limit)
	rr := &recordingReader{r: body}
	err = ss.SetFrom(r.Context(), in.bucket, in.key, r.ContentLength, rr)
	done()
	if rr.err != nil && (rr.err != io.EOF || rr.n < r.ContentLength) {
		// The body did not arrive whole: the provider was sent less than the value's
		// length, so it stored nothing.
		readErr := rr.err
		if readErr == io.EOF {
			readErr = io.ErrUnexpectedEOF
		}
		return h.bodyError(w, readErr, "the value", limit)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteValue(w http.ResponseWriter, r *http.Request, in *input) error {
	if err := h.store.Delete(r.Context(), in.bucket, in.key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// increment adds the optional body's delta (default 1). The delta is read from its JSON text
// with strconv.ParseUint, so every value up to 2^64-1 is exact; a float64 (as a generic JSON
// decoder would produce) is not.
func (h *handler) increment(w http.ResponseWriter, r *http.Request, in *input) error {
	delta := uint64(1)
	if len(in.body) > 0 {
		var req struct {
			Delta *json.Number `json:"delta"`
		}
		if err := json.Unmarshal(in.body, &req); err != nil {
			return newProblem(kindValidation, "request body: %v", err)
		}
		if req.Delta != nil {
			d, err := strconv.ParseUint(req.Delta.String(), 10, 64)
			if err != nil {
				return newProblem(kindValidation,
					"request body field \"/delta\": must be an integer from 0 to 18446744073709551615 written without fraction or exponent")
			}
			delta = d
		}
	}
	n, err := h.store.Increment(r.Context(), in.bucket, in.key, delta)
	var other *keyvalue.OtherError
	if errors.As(err, &other) && !other.IsUnavailable() {
		if p := h.counterConflict(r, in, delta, other); p != nil {
			return p
		}
	}
	if err != nil {
		return err
	}
	b := make([]byte, 0, 64)
	b = append(b, `{"value":`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `,"valueString":"`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, "\"}\n"...)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// counterConflict tells a refused increment that the request itself caused from a provider
// failure. The interface has no error case for it, so providers answer other(message) both
// when the stored value is not a counter and when they fail; only the second is the
// provider's fault (502). One read settles it: when the stored value is not a counter
// (keyvalue.AddToCounter's rule, that of Redis-backed providers and of the embedded ones) or
// cannot take delta, the request conflicts with it (409). It returns nil when the value is
// absent, could take delta or cannot be read: then the provider's answer stands.
func (h *handler) counterConflict(r *http.Request, in *input, delta uint64, other *keyvalue.OtherError) *problem {
	v, ok, err := h.store.Get(r.Context(), in.bucket, in.key)
	if err != nil || !ok {
		return nil
	}
	_, _, err = keyvalue.AddToCounter(v, delta)
	var why *keyvalue.OtherError
	if !errors.As(err, &why) {
		return nil
	}
	p := newProblem(kindNotCounter, "the value of key %q cannot be incremented by %d: %s", in.key, delta, why.Message)
	if other.Message != why.Message {
		p.detail += "; the provider said: " + other.Message
	}
	p.cause = other
	return p
}

// writeJSON writes a complete JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeJSONValue writes v as a complete JSON body.
func writeJSONValue(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeJSON(w, status, append(body, '\n'))
	return nil
}
