package codec

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// maxRequestBytes bounds one /encode or /decode request. The Web UI sends
// a page of payloads at a time, each at most Temporal's 2 MiB.
const maxRequestBytes = 64 << 20

// Handler serves the codec at POST /encode and POST /decode in the format
// the Temporal Web UI and CLI speak (a JSON Payloads message), and GET
// /healthz.
//
// A browser sends an Origin header; only the origins listed (the Web UI's,
// as scheme://host:port) are answered, with CORS headers naming that one
// origin, and any other gets 403 both on the preflight and on the request.
// A request without Origin comes from a program, not a page (the temporal
// CLI's --codec-endpoint, curl) and is served: who can reach the codec
// server can read every payload, so it listens where only operators can
// connect.
func Handler(c converter.PayloadCodec, origins []string) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
	allowed := func(origin string) bool { return slices.Contains(origins, origin) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
			fmt.Fprintln(w, "ok")
			return
		}
		if r.URL.Path != "/encode" && r.URL.Path != "/decode" {
			http.NotFound(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !allowed(origin) {
				http.Error(w, "origin "+origin+" may not use this codec server", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		switch r.Method {
		case http.MethodOptions:
			if origin == "" {
				http.Error(w, "a preflight needs an Origin", http.StatusBadRequest)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
			codec.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// ParseOrigins splits a comma-separated list of origins and checks each is
// scheme://host[:port], nothing more, as a browser sends it.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for o := range strings.SplitSeq(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("origin %q: want scheme://host[:port], as the Web UI's address bar shows it without a path", o)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no origin given: name the Web UI's, e.g. http://127.0.0.1:8233")
	}
	return out, nil
}
