// Package web serves the gateway's browser UI: a key-value explorer and an API reference,
// written as plain HTML, CSS and JavaScript modules and embedded in the binary. Everything the
// UI needs comes from the gateway's own origin; nothing is fetched from another host.
//
// The UI talks to the REST API on the same origin and uses hash routing
// (/#/buckets/{bucket}/keys/{key}), so the server only ever serves index.html at "/" and the
// assets under "/ui/".
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// AssetPrefix is the path under which the UI's assets (scripts, styles, icons) are served.
const AssetPrefix = "/ui/"

// ContentSecurityPolicy is sent with every response of Handler. It allows scripts, styles and
// requests from the gateway's own origin only: no inline script, no other host, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets maps request paths ("/", "/ui/js/app.js", ...) to files. Built once at init from the
// embedded tree; it is read-only afterwards.
var assets = mustLoad()

// modTime is the zero time, so http.ServeContent sends no Last-Modified: the ETag, a hash of
// the content, is the only validator and changes exactly when the asset does.
var modTime time.Time

func mustLoad() map[string]asset {
	m := make(map[string]asset)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := asset{
			body:        body,
			contentType: contentType(p),
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		}
		rel := strings.TrimPrefix(p, "static/")
		if rel == "index.html" {
			m["/"] = a
			return nil
		}
		m[AssetPrefix+rel] = a
		return nil
	})
	if err != nil {
		panic("web: loading embedded assets: " + err.Error())
	}
	return m
}

// contentType names the media type of an asset by its extension. It does not consult the
// system's MIME tables, which differ between machines (a JavaScript module served as
// text/plain is refused by browsers).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	default:
		return "application/octet-stream"
	}
}

// Handler serves the UI: index.html at "/" and the assets under AssetPrefix, for GET and HEAD.
// Responses carry a strong ETag (answering If-None-Match with 304), Cache-Control: no-cache so
// browsers revalidate after an upgrade, X-Content-Type-Options: nosniff and
// ContentSecurityPolicy. Any other path is answered 404 and any other method 405 (with Allow),
// both as application/problem+json, so a gateway may mount Handler as its fallback route.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

// Has reports whether Handler serves urlPath, for a router that mounts only the UI's own paths.
func Has(urlPath string) bool {
	_, ok := assets[urlPath]
	return ok
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.URL.Path]
	if !ok {
		problem(w, http.StatusNotFound, "Not Found", "No such page or API route: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed",
			"The user interface is read with GET or HEAD, not "+r.Method+".")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// ServeContent answers If-None-Match (304), HEAD and Range from the ETag set above.
	http.ServeContent(w, r, "", modTime, bytes.NewReader(a.body))
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, title, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", title, status, detail})
}
