package conninfo

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// tlsKeys are the libpq keywords that say how a connection uses TLS.
var tlsKeys = []string{"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslcrldir", "sslsni",
	"ssl_min_protocol_version", "ssl_max_protocol_version", "sslcompression"}

// TLSKeywords returns the TLS keywords of a DSN (sslmode, sslrootcert, …),
// for a connection string Lifeboat builds to the same server, so that a tool
// it runs (pg_rewind, pg_basebackup) checks the server as the DSN asks.
func TLSKeywords(dsn string) (map[string]string, error) {
	params, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range tlsKeys {
		if v, ok := params[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// Parse parses a libpq connection string, as a postgres:// or postgresql://
// URL or as keyword=value pairs, into its keywords, without connecting. It
// checks the syntax only: libpq and pgx know the meaning of each keyword.
func Parse(dsn string) (map[string]string, error) {
	for _, scheme := range []string{"postgresql://", "postgres://"} {
		if rest, ok := strings.CutPrefix(dsn, scheme); ok {
			params, err := parseDSNURL(rest)
			if err != nil {
				return nil, fmt.Errorf("not a valid postgres:// URL: %w", err)
			}
			return params, nil
		}
	}
	params, err := parseDSNKeywords(dsn)
	if err != nil {
		return nil, fmt.Errorf("not a postgres:// URL or keyword=value string: %w", err)
	}
	return params, nil
}

// parseDSNURL parses what follows the scheme: [user[:password]@][hosts][/db][?params].
// net/url is not used for the authority because libpq allows several
// comma-separated hosts there, which it rejects.
func parseDSNURL(rest string) (map[string]string, error) {
	params := map[string]string{}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		if err := parseUserinfo(authority[:i], params); err != nil {
			return nil, err
		}
		authority = authority[i+1:]
	}
	if err := checkDSNHosts(authority); err != nil {
		return nil, err
	}
	if authority != "" {
		params["host"] = authority
	}
	query := ""
	if i := strings.Index(tail, "?"); i >= 0 {
		tail, query = tail[:i], tail[i+1:]
	}
	if db := strings.TrimPrefix(tail, "/"); db != "" {
		name, err := url.PathUnescape(db)
		if err != nil {
			return nil, fmt.Errorf("database name: %w", err)
		}
		params["dbname"] = name
	}
	return params, addQuery(query, params)
}

func parseUserinfo(userinfo string, params map[string]string) error {
	user, password, hasPassword := strings.Cut(userinfo, ":")
	u, err := url.PathUnescape(user)
	if err != nil {
		return fmt.Errorf("user: %w", err)
	}
	if u != "" {
		params["user"] = u
	}
	if hasPassword {
		// Present even when empty: the DSN still claims to carry the password.
		params["password"] = password
	}
	return nil
}

// checkDSNHosts checks host[:port] entries, comma-separated, IPv6 in brackets.
func checkDSNHosts(hosts string) error {
	if hosts == "" {
		return nil
	}
	for h := range strings.SplitSeq(hosts, ",") {
		port := ""
		if strings.HasPrefix(h, "[") {
			end := strings.Index(h, "]")
			if end < 0 {
				return fmt.Errorf("host %q: missing ]", h)
			}
			port, _ = strings.CutPrefix(h[end+1:], ":")
			if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
				return fmt.Errorf("host %q: unexpected text after ]", h)
			}
		} else if i := strings.LastIndex(h, ":"); i >= 0 {
			port = h[i+1:]
		}
		if port == "" {
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("host %q: port must be a number from 1 to 65535", h)
		}
	}
	return nil
}

func addQuery(query string, params map[string]string) error {
	values, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	for k, v := range values {
		params[k] = v[len(v)-1]
	}
	return nil
}

// parseDSNKeywords parses libpq's keyword = value form: values are bare words
// or single-quoted, with backslash escaping a quote or a backslash.
func parseDSNKeywords(s string) (map[string]string, error) {
	params := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		if s == "" {
			break
		}
		key, rest, err := dsnKeyword(s)
		if err != nil {
			return nil, err
		}
		value, rest, err := dsnValue(rest)
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", key, err)
		}
		params[key] = value
		s = rest
	}
	if len(params) == 0 {
		return nil, errors.New("empty")
	}
	return params, nil
}

// dsnKeyword reads "keyword =" and returns the keyword and what follows "=".
func dsnKeyword(s string) (string, string, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r == '=' || isDSNSpace(r) })
	if i <= 0 {
		if i == 0 {
			return "", "", errors.New(`"=" without a keyword`)
		}
		return "", "", fmt.Errorf("missing \"=\" after %q", s)
	}
	key := s[:i]
	rest := strings.TrimLeft(s[i:], " \t\n\r\f\v")
	if !strings.HasPrefix(rest, "=") {
		return "", "", fmt.Errorf("missing \"=\" after %q", key)
	}
	return key, strings.TrimLeft(rest[1:], " \t\n\r\f\v"), nil
}

// dsnValue reads one value and returns it and what follows.
func dsnValue(s string) (string, string, error) {
	quoted := strings.HasPrefix(s, "'")
	if quoted {
		s = s[1:]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case quoted && c == '\'':
			return b.String(), s[i+1:], nil
		case !quoted && isDSNSpace(rune(c)):
			return b.String(), s[i:], nil
		default:
			b.WriteByte(c)
		}
	}
	if quoted {
		return "", "", errors.New("unterminated quoted string")
	}
	return b.String(), "", nil
}

func isDSNSpace(r rune) bool { return strings.ContainsRune(" \t\n\r\f\v", r) }
