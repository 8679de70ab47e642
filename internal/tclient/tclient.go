// Package tclient turns the Temporal connection settings shared by the worker
// and the CLI (address, namespace, mTLS, API key, payload encryption keys)
// into SDK client options.
package tclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/runnerhub/lifeboat/internal/codec"
)

// DefaultAddress is the local stack's Temporal frontend.
const DefaultAddress = "127.0.0.1:17233"

// Options are the settings needed to reach a Temporal namespace.
type Options struct {
	Address   string
	Namespace string
	// TLSCert and TLSKey are the client certificate and key files for mTLS.
	TLSCert string
	TLSKey  string
	// TLSCA is a CA bundle file; empty means the system roots.
	TLSCA         string
	TLSServerName string
	// APIKey authenticates to Temporal Cloud; it implies TLS.
	APIKey string
	// CodecKeys, when set, encrypt every payload the client sends and
	// decrypt those it reads (codec.EnvKeys: "id:base64,...", the current
	// key first). Empty sends plain payloads.
	CodecKeys string
}

// Env reads a LIFEBOAT_* variable, or def when it is unset or empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RegisterFlags adds the connection flags to fs, with defaults taken from the
// LIFEBOAT_* environment variables. The API key is read only from the
// environment so it never shows in a process listing, and so are the codec
// keys.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Address, "temporal-address", Env("LIFEBOAT_TEMPORAL_ADDRESS", DefaultAddress), "Temporal frontend host:port (LIFEBOAT_TEMPORAL_ADDRESS)")
	fs.StringVar(&o.Namespace, "namespace", Env("LIFEBOAT_NAMESPACE", "default"), "Temporal namespace (LIFEBOAT_NAMESPACE)")
	fs.StringVar(&o.TLSCert, "tls-cert", Env("LIFEBOAT_TLS_CERT", ""), "client certificate file for mTLS (LIFEBOAT_TLS_CERT)")
	fs.StringVar(&o.TLSKey, "tls-key", Env("LIFEBOAT_TLS_KEY", ""), "client key file for mTLS (LIFEBOAT_TLS_KEY)")
	fs.StringVar(&o.TLSCA, "tls-ca", Env("LIFEBOAT_TLS_CA", ""), "CA bundle to verify the server (LIFEBOAT_TLS_CA)")
	fs.StringVar(&o.TLSServerName, "tls-server-name", Env("LIFEBOAT_TLS_SERVER_NAME", ""), "server name to verify (LIFEBOAT_TLS_SERVER_NAME)")
	o.APIKey = os.Getenv("LIFEBOAT_API_KEY")
	o.CodecKeys = os.Getenv(codec.EnvKeys)
}

// ClientOptions builds SDK client options; logger and metrics are set by the caller.
func (o Options) ClientOptions() (client.Options, error) {
	opts := client.Options{HostPort: o.Address, Namespace: o.Namespace}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return opts, err
	}
	opts.ConnectionOptions.TLS = tlsConf
	if o.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(o.APIKey)
	}
	if opts.DataConverter, err = o.DataConverter(); err != nil {
		return opts, err
	}
	return opts, nil
}

// DataConverter is the converter clients built from o use: the SDK's
// default, sealed by the codec when keys are set. Code that decodes
// payloads the SDK hands back raw (heartbeat details, schedule inputs)
// must use it too.
func (o Options) DataConverter() (converter.DataConverter, error) {
	dc, err := codec.DataConverter(o.CodecKeys)
	if err != nil {
		return nil, fmt.Errorf("payload codec: %w", err)
	}
	return dc, nil
}

func (o Options) tlsConfig() (*tls.Config, error) {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("tls-cert and tls-key must be given together")
	}
	if o.TLSCert == "" && o.TLSCA == "" && o.APIKey == "" && o.TLSServerName == "" {
		return nil, nil
	}
	conf := &tls.Config{ServerName: o.TLSServerName, MinVersion: tls.VersionTLS12}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", o.TLSCA)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}
