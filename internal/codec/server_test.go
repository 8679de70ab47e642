package codec

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

const uiOrigin = "http://127.0.0.1:18233"

// codecServer starts the codec server for uiOrigin and returns its URL and
// a payload it sealed.
func codecServer(t *testing.T) (string, *commonpb.Payload) {
	t.Helper()
	c, err := New(testKey(t, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(c, []string{uiOrigin}))
	t.Cleanup(srv.Close)
	sealed, err := mustDCFromCodec(c).ToPayload(map[string]string{"backup_id": "20260101T000000Z-database"})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, sealed
}

// post sends payloads to path as the Web UI does, from origin ("" for none).
func post(t *testing.T, url, origin string, payloads ...*commonpb.Payload) *http.Response {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func decodeBody(t *testing.T, resp *http.Response) []*commonpb.Payload {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, b)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(b, &out); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	return out.Payloads
}

func TestCodecServer_DecodesForTheUIOrigin(t *testing.T) {
	url, sealed := codecServer(t)

	pre := preflight(t, url+"/decode", uiOrigin)
	if pre.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight from the UI: %s", pre.Status)
	}
	if got := pre.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("preflight Allow-Origin = %q, want %q", got, uiOrigin)
	}
	for _, h := range []string{"Content-Type", "X-Namespace"} {
		if !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), h) {
			t.Errorf("preflight does not allow header %s: %q", h, pre.Header.Get("Access-Control-Allow-Headers"))
		}
	}

	resp := post(t, url+"/decode", uiOrigin, sealed)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Allow-Origin = %q, want %q", got, uiOrigin)
	}
	out := decodeBody(t, resp)
	if len(out) != 1 || string(out[0].Metadata["encoding"]) != "json/plain" {
		t.Fatalf("decoded %v, want one json/plain payload", out)
	}
	var v map[string]string
	if err := json.Unmarshal(out[0].Data, &v); err != nil || v["backup_id"] != "20260101T000000Z-database" {
		t.Errorf("decoded data %s (%v)", out[0].Data, err)
	}
}

func TestCodecServer_RefusesOtherOrigins(t *testing.T) {
	url, sealed := codecServer(t)
	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:18234", "https://127.0.0.1:18233"} {
		pre := preflight(t, url+"/decode", origin)
		if pre.StatusCode != http.StatusForbidden || pre.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %s, Allow-Origin %q; want 403 and none", origin, pre.Status, pre.Header.Get("Access-Control-Allow-Origin"))
		}
		resp := post(t, url+"/decode", origin, sealed)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("decode from %s: %s, Allow-Origin %q; want 403 and none", origin, resp.Status, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if strings.Contains(string(body), "backup_id") {
			t.Errorf("decode from %s leaked the plaintext: %s", origin, body)
		}
	}
}

func TestCodecServer_EncodeThenDecodeWithoutOrigin(t *testing.T) {
	url, _ := codecServer(t)
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"cluster":"dev"}`)}
	enc := decodeBody(t, post(t, url+"/encode", "", plain))
	if len(enc) != 1 || string(enc[0].Metadata["encoding"]) != Encoding || strings.Contains(string(enc[0].Data), "cluster") {
		t.Fatalf("encoded %v, want one sealed payload", enc)
	}
	dec := decodeBody(t, post(t, url+"/decode", "", enc...))
	if len(dec) != 1 || string(dec[0].Data) != `{"cluster":"dev"}` {
		t.Errorf("decoded %v", dec)
	}
}

func TestCodecServer_OnlyItsPaths(t *testing.T) {
	url, sealed := codecServer(t)
	if resp := post(t, url+"/x/decode", uiOrigin, sealed); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /x/decode: %s, want 404", resp.Status)
	}
	resp, err := http.Get(url + "/decode")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /decode: %s, want 405", resp.Status)
	}
	resp, err = http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %s", resp.Status)
	}
}

func TestParseOrigins(t *testing.T) {
	got, err := ParseOrigins("http://127.0.0.1:18233, https://temporal.example.com")
	if err != nil || len(got) != 2 || got[1] != "https://temporal.example.com" {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "127.0.0.1:18233", "http://127.0.0.1:18233/", "ftp://x", "http://u@x"} {
		if _, err := ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) accepted", bad)
		}
	}
}

func mustDCFromCodec(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
