package tclient

import (
	"flag"
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/runnerhub/lifeboat/internal/codec"
)

func TestClientOptions_SealsPayloadsWhenKeysAreSet(t *testing.T) {
	key, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys, wantEncoding string
	}{
		{"", converter.MetadataEncodingJSON},
		{key, codec.Encoding},
	} {
		opts, err := Options{Address: DefaultAddress, CodecKeys: tc.keys}.ClientOptions()
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.DataConverter.ToPayload(map[string]string{"cluster": "dev"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.Metadata[converter.MetadataEncoding]); got != tc.wantEncoding {
			t.Errorf("keys %q: payload encoding %q, want %q", tc.keys, got, tc.wantEncoding)
		}
	}
}

func TestClientOptions_BadKeysAreAnError(t *testing.T) {
	_, err := Options{Address: DefaultAddress, CodecKeys: "k1:short"}.ClientOptions()
	if err == nil || !strings.Contains(err.Error(), codec.EnvKeys) {
		t.Errorf("err = %v, want one naming %s", err, codec.EnvKeys)
	}
}

func TestRegisterFlags_KeysFromTheEnvironmentOnly(t *testing.T) {
	key, _ := codec.NewKey("k1")
	t.Setenv(codec.EnvKeys, key)
	var o Options
	o.RegisterFlags(newFlagSet())
	if o.CodecKeys != key {
		t.Errorf("CodecKeys = %q, want the environment's", o.CodecKeys)
	}
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }
