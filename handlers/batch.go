package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// utf8Encoding reports whether the request asked for values as UTF-8 text rather than base64.
func utf8Encoding(r *http.Request) bool {
	return r.URL.Query().Get("encoding") == "utf8" // the validator allows base64 and utf8 only
}

func (h *handler) batchGet(w http.ResponseWriter, r *http.Request, in *input) error {
	keys, err := h.decodeKeys(in.body)
	if err != nil {
		return err
	}
	asText := utf8Encoding(r)
	kvs, err := h.getMany(r.Context(), in.bucket, keys)
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
	if len(req.Items) > h.opts.MaxBatchItems {
		return newProblem(kindValidation, "request body field \"/items\": more than %d items", h.opts.MaxBatchItems)
	}
	asText := utf8Encoding(r)
	items := make([]keyvalue.KeyValue, len(req.Items))
	for i, it := range req.Items {
		k, err := h.decodeKey(it.Key, fmt.Sprintf("/items/%d/key", i))
		if err != nil {
			return err
		}
		field := fmt.Sprintf("/items/%d/value", i)
		s, err := jsonString(it.Value, field)
		if err != nil {
			return err
		}
		var v []byte
		if asText {
			v = []byte(s)
		} else if v, err = base64.StdEncoding.DecodeString(s); err != nil {
			return newProblem(kindValidation, "request body field %q: not standard padded base64 (or ask with encoding=utf8)", field)
		}
		if int64(len(v)) > h.opts.MaxValueBytes {
			return tooLarge("the value of "+field, h.opts.MaxValueBytes)
		}
		items[i] = keyvalue.KeyValue{Key: k, Value: v}
	}
	if err := h.setMany(r.Context(), in.bucket, items); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) batchDelete(w http.ResponseWriter, r *http.Request, in *input) error {
	keys, err := h.decodeKeys(in.body)
	if err != nil {
		return err
	}
	if err := h.deleteMany(r.Context(), in.bucket, keys); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeKeys reads {"keys": [...]} and checks each key.
func (h *handler) decodeKeys(body []byte) ([]string, error) {
	var req struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, newProblem(kindValidation, "request body: %v", err)
	}
	if len(req.Keys) > h.opts.MaxBatchItems {
		return nil, newProblem(kindValidation, "request body field \"/keys\": more than %d keys", h.opts.MaxBatchItems)
	}
	keys := make([]string, len(req.Keys))
	for i, raw := range req.Keys {
		k, err := h.decodeKey(raw, fmt.Sprintf("/keys/%d", i))
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// decodeKey reads one key of a JSON body: a string, non-empty, at most MaxKeyBytes.
func (h *handler) decodeKey(raw json.RawMessage, field string) (string, error) {
	k, err := jsonString(raw, field)
	if err != nil {
		return "", err
	}
	if k == "" {
		return "", newProblem(kindValidation, "request body field %q: a key must not be empty", field)
	}
	if len(k) > h.opts.MaxKeyBytes {
		return "", newProblem(kindValidation, "request body field %q: the key is %d bytes long; the limit is %d bytes", field, len(k), h.opts.MaxKeyBytes)
	}
	return k, nil
}

// jsonString decodes a JSON string exactly. encoding/json replaces an escaped lone surrogate
// (such as "\ud800") with U+FFFD; such a string is not Unicode text and has no UTF-8 form, so
// it is refused instead of being stored changed.
func jsonString(raw json.RawMessage, field string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", newProblem(kindValidation, "request body field %q: must be a string", field)
	}
	if hasLoneSurrogate(raw) {
		return "", newProblem(kindValidation, "request body field %q: contains an unpaired UTF-16 surrogate escape, which is not Unicode text", field)
	}
	return s, nil
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

// getMany reads keys through the batch interface, or key by key when no provider serves it.
func (h *handler) getMany(ctx context.Context, bucket string, keys []string) ([]*keyvalue.KeyValue, error) {
	kvs, err := h.store.GetMany(ctx, bucket, keys)
	if !errors.Is(err, client.ErrNoResponders) {
		return kvs, err
	}
	kvs = make([]*keyvalue.KeyValue, len(keys))
	err = h.each(ctx, len(keys), func(ctx context.Context, i int) error {
		v, ok, err := h.store.Get(ctx, bucket, keys[i])
		if ok {
			kvs[i] = &keyvalue.KeyValue{Key: keys[i], Value: v}
		}
		return err
	})
	return kvs, err
}

// setMany writes items through the batch interface, or key by key when no provider serves
// it. Key by key, a key given twice is written once, with its last value, as the batch
// interface would leave it.
func (h *handler) setMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	err := h.store.SetMany(ctx, bucket, items)
	if !errors.Is(err, client.ErrNoResponders) {
		return err
	}
	last := make(map[string]int, len(items))
	for i, it := range items {
		last[it.Key] = i
	}
	return h.each(ctx, len(items), func(ctx context.Context, i int) error {
		if last[items[i].Key] != i {
			return nil
		}
		return h.store.Set(ctx, bucket, items[i].Key, items[i].Value)
	})
}

// deleteMany deletes keys through the batch interface, or key by key when no provider serves
// it.
func (h *handler) deleteMany(ctx context.Context, bucket string, keys []string) error {
	err := h.store.DeleteMany(ctx, bucket, keys)
	if !errors.Is(err, client.ErrNoResponders) {
		return err
	}
	return h.each(ctx, len(keys), func(ctx context.Context, i int) error {
		return h.store.Delete(ctx, bucket, keys[i])
	})
}

// each calls f for 0..n-1 on at most BatchConcurrency goroutines and returns the first
// error; after an error, calls not yet started are skipped and ctx is canceled for the rest.
// It returns when every call has returned.
func (h *handler) each(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(h.opts.BatchConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() {
						firstErr = err
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
