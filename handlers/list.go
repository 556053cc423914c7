package handlers

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wrpc-kv/gateway/auth"
)

// defaultListLimit is the page size when the request names none.
const defaultListLimit = 100

// listCursor is where a listing resumes: a provider page (named by the provider's cursor,
// nil for its first page) and an offset into that page's keys, sorted. The offset lets a
// gateway page end inside a provider page, so pages never exceed the requested limit even
// when a provider answers every key at once.
type listCursor struct {
	provider *uint64
	offset   uint64
}

// cursorVersion starts every encoded cursor, so the format can change without old cursors
// being misread.
const cursorVersion = 1

// encode returns the cursor as an opaque URL-safe string: version, a flag byte (1 when a
// provider cursor follows), the provider cursor and the offset as uvarints, in base64url.
func (c listCursor) encode() string {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64)
	b = append(b, cursorVersion, 0)
	if c.provider != nil {
		b[1] = 1
		b = binary.AppendUvarint(b, *c.provider)
	}
	b = binary.AppendUvarint(b, c.offset)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor made by encode. Anything else, including non-canonical
// spellings of a valid cursor, is malformed.
func decodeCursor(s string) (listCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || b[0] != cursorVersion || b[1] > 1 {
		return listCursor{}, false
	}
	var c listCursor
	rest := b[2:]
	if b[1] == 1 {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return listCursor{}, false
		}
		c.provider = &v
		rest = rest[n:]
	}
	off, n := binary.Uvarint(rest)
	if n <= 0 || n != len(rest) {
		return listCursor{}, false
	}
	c.offset = off
	if c.encode() != s {
		return listCursor{}, false
	}
	return c, true
}

// listKeys answers one page of at most limit keys starting with prefix. It reads provider
// pages from the cursor on until the page is full, the provider has no more, or MaxListCalls
// provider calls were made; the returned cursor resumes exactly after the last key answered
// (or the last provider key examined).
func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, in *input) error {
	q := r.URL.Query()
	limit := defaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s) // the validator checked 1..maxListLimit
		if err != nil || n < 1 || n > maxListLimit {
			return newProblem(kindValidation, "query parameter \"limit\": must be an integer from 1 to %d", maxListLimit)
		}
		limit = n
	}
	var cur listCursor
	if s, ok := q["cursor"]; ok {
		var valid bool
		if cur, valid = decodeCursor(s[0]); !valid {
			return newProblem(kindValidation, "query parameter \"cursor\": not a cursor this gateway returned")
		}
	}
	prefix := q.Get("prefix")
	if !utf8.ValidString(prefix) {
		return newProblem(kindValidation, "query parameter \"prefix\": not valid UTF-8")
	}
	// A caller scoped to key prefixes sees only the keys under them.
	all, scope, err := listScope(r, in.bucket)
	if err != nil {
		return err
	}
	if !all && auth.UnderPrefixes(prefix, scope) {
		all = true // every key the request asks for is in scope
	}
	// prefix is only compared with keys here, never sent on: its length is bounded by the
	// schema's maxLength in characters alone, so every prefix the schema allows is served.

	keys := make([]string, 0, min(limit, 128))
	var next *listCursor
	for calls := 1; ; calls++ {
		resp, err := h.store.ListKeys(r.Context(), in.bucket, cur.provider)
		if err != nil {
			return err
		}
		// Sorted, a provider page has the same order on every request, whatever order the
		// provider answers in, so an offset into it is stable.
		page := slices.Sorted(slices.Values(resp.Keys))
		i := min(cur.offset, uint64(len(page)))
		for ; i < uint64(len(page)); i++ {
			k := page[i]
			if !strings.HasPrefix(k, prefix) || !all && !auth.UnderPrefixes(k, scope) {
				continue
			}
			if len(keys) == limit {
				next = &listCursor{provider: cur.provider, offset: i}
				break
			}
			keys = append(keys, k)
		}
		if next != nil || resp.Cursor == nil {
			break
		}
		cur = listCursor{provider: resp.Cursor}
		if len(keys) == limit || calls >= h.opts.MaxListCalls {
			next = &cur
			break
		}
	}

	var page struct {
		Keys   []string `json:"keys"`
		Cursor *string  `json:"cursor"`
	}
	page.Keys = keys
	if next != nil {
		s := next.encode()
		page.Cursor = &s
	}
	body, err := json.Marshal(page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(body, '\n'))
	return nil
}
