package handlers

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/wrpc-kv/gateway/auth"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// utf8Encoding reports whether the request asked for values as UTF-8 text rather than base64.
func utf8Encoding(r *http.Request) bool {
	return r.URL.Query().Get("encoding") == "utf8" // the validator allows base64 and utf8 only
}

func (h *handler) batchGet(w http.ResponseWriter, r *http.Request, in *input) error {
	keys, err := h.decodeKeys(in.body, in.bucket)
	if err != nil {
		return err
	}
	if err := authorizeKeys(r, auth.Read, in.bucket, keys); err != nil {
		return err
	}
	asText := utf8Encoding(r)
	kvs, err := h.store.GetMany(r.Context(), in.bucket, keys)
	if errors.Is(err, keyvalue.ErrResultTooLarge) {
		p := newProblem(kindResultTooLarge, "the values of these %d keys exceed the %d bytes one batch/get answers; ask for fewer keys at once",
			len(keys), h.limits(in.bucket).MaxBatchResultBytes)
		p.cause = err
		return p
	}
	if err != nil {
		return err
	}
	if len(kvs) != len(keys) {
		return newProblem(kindProtocol, "the provider answered %d values for %d keys", len(kvs), len(keys))
	}
	type item struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	}
	resp := struct {
		Items []item `json:"items"`
	}{Items: make([]item, len(keys))}
	for i, k := range keys {
		resp.Items[i].Key = k
		kv := kvs[i]
		if kv == nil {
			continue
		}
		var s string
		if asText {
			if !utf8.Valid(kv.Value) {
				return newProblem(kindNotUTF8, "the value of key %q is not valid UTF-8; ask with encoding=base64", k)
			}
			s = string(kv.Value)
		} else {
			s = base64.StdEncoding.EncodeToString(kv.Value)
		}
		resp.Items[i].Value = &s
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(body, '\n'))
	return nil
}

func (h *handler) batchSet(w http.ResponseWriter, r *http.Request, in *input) error {
	var req struct {
		Items []struct {
			Key   json.RawMessage `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"items"`
	}
	if err := json.Unmarshal(in.body, &req); err != nil {
		return newProblem(kindValidation, "request body: %v", err)
	}
	lim := h.limits(in.bucket)
	if len(req.Items) > lim.MaxBatchItems {
		return newProblem(kindValidation, "request body field \"/items\": more than %d items", lim.MaxBatchItems)
	}
	asText := utf8Encoding(r)
	items := make([]keyvalue.KeyValue, len(req.Items))
	for i, it := range req.Items {
		k, err := h.decodeKey(it.Key, field{"/items", i, "/key"})
		if err != nil {
			return err
		}
		f := field{"/items", i, "/value"}
		s, err := jsonString(it.Value, f)
		if err != nil {
			return err
		}
		var v []byte
		if asText {
			v = []byte(s)
		} else if v, err = base64.StdEncoding.DecodeString(s); err != nil {
			return newProblem(kindValidation, "request body field %q: not standard padded base64 (or ask with encoding=utf8)", f)
		}
		if int64(len(v)) > lim.MaxValueBytes {
			return tooLarge("the value of "+f.String(), lim.MaxValueBytes)
		}
		items[i] = keyvalue.KeyValue{Key: k, Value: v}
		if err := authorize(r, auth.Write, in.bucket, k); err != nil {
			return err
		}
	}
	if err := h.store.SetMany(r.Context(), in.bucket, items); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) batchDelete(w http.ResponseWriter, r *http.Request, in *input) error {
	keys, err := h.decodeKeys(in.body, in.bucket)
	if err != nil {
		return err
	}
	if err := authorizeKeys(r, auth.Delete, in.bucket, keys); err != nil {
		return err
	}
	if err := h.store.DeleteMany(r.Context(), in.bucket, keys); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeKeys reads {"keys": [...]} and checks each key.
func (h *handler) decodeKeys(body []byte, bucket string) ([]string, error) {
	var req struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, newProblem(kindValidation, "request body: %v", err)
	}
	if n := h.limits(bucket).MaxBatchItems; len(req.Keys) > n {
		return nil, newProblem(kindValidation, "request body field \"/keys\": more than %d keys", n)
	}
	keys := make([]string, len(req.Keys))
	for i, raw := range req.Keys {
		k, err := h.decodeKey(raw, field{"/keys", i, ""})
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// decodeKey reads one key of a JSON body: a string, non-empty, at most MaxKeyBytes.
func (h *handler) decodeKey(raw json.RawMessage, f field) (string, error) {
	k, err := jsonString(raw, f)
	if err != nil {
		return "", err
	}
	if k == "" {
		return "", newProblem(kindValidation, "request body field %q: a key must not be empty", f)
	}
	if len(k) > h.opts.MaxKeyBytes {
		return "", newProblem(kindValidation, "request body field %q: the key is %d bytes long; the limit is %d bytes", f, len(k), h.opts.MaxKeyBytes)
	}
	return k, nil
}

// field names a value in a JSON body ("/keys/3", "/items/3/value") for problem details; it
// is formatted only when one is reported.
type field struct {
	list   string
	index  int
	suffix string
}

func (f field) String() string { return f.list + "/" + strconv.Itoa(f.index) + f.suffix }

// jsonString decodes a JSON string exactly. encoding/json replaces an escaped lone surrogate
// (such as "\ud800") with U+FFFD; such a string is not Unicode text and has no UTF-8 form, so
// it is refused instead of being stored changed. raw comes from a body already parsed as
// JSON: a literal without escapes that is valid UTF-8 is its own text, taken as it is.
func jsonString(raw json.RawMessage, f field) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && plainText(raw[1:n-1]) {
		return string(raw[1 : n-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", newProblem(kindValidation, "request body field %q: must be a string", f)
	}
	if hasLoneSurrogate(raw) {
		return "", newProblem(kindValidation, "request body field %q: contains an unpaired UTF-16 surrogate escape, which is not Unicode text", f)
	}
	return s, nil
}

// plainText reports whether b, the inside of a JSON string literal, decodes to itself: no
// escape, quote or control character, and valid UTF-8 (encoding/json would replace invalid
// bytes with U+FFFD).
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// hasLoneSurrogate reports whether the JSON string literal raw escapes a high surrogate not
// followed by an escaped low surrogate, or a low surrogate not preceded by a high one.
func hasLoneSurrogate(raw []byte) bool {
	pendingHigh := false
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			if pendingHigh {
				return true
			}
			continue
		}
		i++
		if i >= len(raw) {
			break
		}
		if raw[i] != 'u' || i+4 >= len(raw) {
			if pendingHigh {
				return true
			}
			continue
		}
		var u rune
		for _, c := range raw[i+1 : i+5] {
			u <<= 4
			switch {
			case '0' <= c && c <= '9':
				u |= rune(c - '0')
			case 'a' <= c && c <= 'f':
				u |= rune(c - 'a' + 10)
			case 'A' <= c && c <= 'F':
				u |= rune(c - 'A' + 10)
			}
		}
		i += 4
		switch {
		case 0xD800 <= u && u < 0xDC00:
			if pendingHigh {
				return true
			}
			pendingHigh = true
		case 0xDC00 <= u && u < 0xE000:
			if !pendingHigh {
				return true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return pendingHigh
}
