package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Redis says where the task queue lives.
type Redis struct {
	// URL locates Redis in one of the forms ParseRedisURL accepts. Default
	// redis://127.0.0.1:6379/0.
	URL string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0" help:"Redis URL: redis://, rediss://, redis-sentinel://, redis-cluster:// or unix://"`
	// Password, when set, replaces the password in URL: the data nodes'
	// password (for sentinel URLs too; the sentinels' own password stays in
	// the URL's sentinel_password). It lets a deployment keep the password
	// in a secret of its own and the URL in plain configuration. It is
	// secret: never printed. No default.
	Password string `env:"REDIS_PASSWORD" secret:"true" help:"Redis password; replaces the one in REDIS_URL"`
}

// ConnOpt parses URL with ParseRedisURL and applies Password; a bad URL
// comes back as an *Error naming REDIS_URL.
func (c Redis) ConnOpt() (asynq.RedisConnOpt, error) {
	opt, err := ParseRedisURL(c.URL)
	if err != nil {
		return nil, errorf("REDIS_URL", err.Error())
	}
	if c.Password == "" {
		return opt, nil
	}
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		o.Password = c.Password
		return o, nil
	case asynq.RedisFailoverClientOpt:
		o.Password = c.Password
		return o, nil
	case asynq.RedisClusterClientOpt:
		o.Password = c.Password
		return o, nil
	}
	return nil, fmt.Errorf("config: REDIS_PASSWORD: unexpected connection options %T", opt)
}

// Open returns a client of the Redis that c locates (see ConnOpt), for
// asynq and llmq's own keys alike. It does not wait for Redis to answer.
// The caller closes it.
func (c Redis) Open() (redis.UniversalClient, error) {
	opt, err := c.ConnOpt()
	if err != nil {
		return nil, err
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("config: REDIS_URL: unsupported connection options %T", opt)
	}
	return rdb, nil
}

// Validate reports an unusable URL or password as an *Error.
func (c Redis) Validate() error {
	if strings.ContainsFunc(c.Password, unicode.IsControl) {
		return errorf("REDIS_PASSWORD", "must not contain control characters such as a trailing newline (value not shown)")
	}
	_, err := c.ConnOpt()
	return err
}

// Default ports of hosts given without one.
const (
	DefaultRedisPort    = "6379"
	DefaultSentinelPort = "26379"
)

// ParseRedisURL turns a Redis URL into asynq connection options. Unlike
// asynq.ParseRedisURI it keeps the ACL username and it understands sentinel
// databases and clusters. The forms are:
//
//	redis://[user[:pass]@]host[:port][/db]            RedisClientOpt
//	rediss://[user[:pass]@]host[:port][/db]           RedisClientOpt with TLS (1.2 or later, server name host)
//	redis-sentinel://[user[:pass]@]h1[:p1],h2[:p2][/db]?master=NAME[&sentinel_username=U][&sentinel_password=X]
//	                                                  RedisFailoverClientOpt; user and pass are the data nodes'
//	redis-cluster://[user[:pass]@]h1[:p1],h2[:p2]     RedisClusterClientOpt
//	unix://[user[:pass]@]/path/to/redis.sock[?db=N]   RedisClientOpt over a Unix socket
//
// redis+sentinel and redis+cluster are accepted as scheme spellings. Ports
// default to 6379 (26379 for sentinels) and db to 0; db is a non-negative
// integer. User and password are percent-decoded. Unknown query parameters
// are rejected rather than ignored. Errors never contain the password.
func ParseRedisURL(raw string) (asynq.RedisConnOpt, error) {
	u, hosts, err := splitRedisURL(raw)
	if err != nil {
		return nil, err
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	switch u.Scheme {
	case "redis", "rediss":
		if err := allowQuery(u); err != nil {
			return nil, err
		}
		host, err := oneHost(u.Scheme, hosts)
		if err != nil {
			return nil, err
		}
		addr, hostname, err := hostPort(host, DefaultRedisPort)
		if err != nil {
			return nil, err
		}
		db, err := pathDB(u.Path)
		if err != nil {
			return nil, err
		}
		opt := asynq.RedisClientOpt{Addr: addr, Username: user, Password: pass, DB: db}
		if u.Scheme == "rediss" {
			opt.TLSConfig = &tls.Config{ServerName: hostname, MinVersion: tls.VersionTLS12}
		}
		return opt, nil

	case "redis-sentinel", "redis+sentinel":
		if err := allowQuery(u, "master", "sentinel_username", "sentinel_password"); err != nil {
			return nil, err
		}
		addrs, err := hostPorts(hosts, DefaultSentinelPort)
		if err != nil {
			return nil, err
		}
		db, err := pathDB(u.Path)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		master := q.Get("master")
		if master == "" {
			return nil, errors.New("sentinel URL needs the master name: add ?master=NAME")
		}
		return asynq.RedisFailoverClientOpt{
			MasterName:       master,
			SentinelAddrs:    addrs,
			SentinelUsername: q.Get("sentinel_username"),
			SentinelPassword: q.Get("sentinel_password"),
			Username:         user,
			Password:         pass,
			DB:               db,
		}, nil

	case "redis-cluster", "redis+cluster":
		if err := allowQuery(u); err != nil {
			return nil, err
		}
		addrs, err := hostPorts(hosts, DefaultRedisPort)
		if err != nil {
			return nil, err
		}
		if u.Path != "" && u.Path != "/" {
			return nil, errors.New("cluster URL takes no database: a Redis cluster has database 0 only")
		}
		return asynq.RedisClusterClientOpt{Addrs: addrs, Username: user, Password: pass}, nil

	case "unix":
		if err := allowQuery(u, "db"); err != nil {
			return nil, err
		}
		if len(hosts) != 1 || hosts[0] != "" {
			return nil, errors.New("unix URL must not name a host: write unix:///path/to/redis.sock")
		}
		if !strings.HasPrefix(u.Path, "/") || u.Path == "/" {
			return nil, errors.New("unix URL needs the socket's absolute path: unix:///path/to/redis.sock")
		}
		db := 0
		if s, ok := u.Query()["db"]; ok {
			if db, err = parseDB(s[0]); err != nil {
				return nil, err
			}
		}
		return asynq.RedisClientOpt{Network: "unix", Addr: u.Path, Username: user, Password: pass, DB: db}, nil
	}
	return nil, fmt.Errorf("unsupported scheme %q: want redis, rediss, redis-sentinel, redis-cluster or unix", u.Scheme)
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// splitRedisURL parses raw, whose host part may list several comma-separated
// hosts, which net/url does not accept in general. The hosts are cut out and
// returned as written; the rest is parsed by net/url, with a placeholder
// host. The scheme comes back in lower case.
func splitRedisURL(raw string) (*url.URL, []string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !schemeRE.MatchString(scheme) {
		return nil, nil, errors.New("not a URL: want e.g. redis://host:6379/0")
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(tail, "@") {
		// A user name or password with an unescaped / ? or # was cut in two:
		// stop before echoing any part of it.
		return nil, nil, errors.New("'@' after the host: percent-encode / ? # and @ in the user name and password")
	}
	userinfo, hostList := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostList = authority[:at+1], authority[at+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "placeholder" + tail)
	if err != nil {
		return nil, nil, errors.New("not a valid URL: " + urlProblem(err))
	}
	if u.Fragment != "" {
		return nil, nil, errors.New("URL must not have a #fragment")
	}
	return u, strings.Split(hostList, ","), nil
}

func allowQuery(u *url.URL, allowed ...string) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("malformed query string")
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("unsupported query parameter %q: %s URLs take none", k, u.Scheme)
			}
			return fmt.Errorf("unsupported query parameter %q: %s URLs take %s", k, u.Scheme, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func oneHost(scheme string, hosts []string) (string, error) {
	if len(hosts) != 1 {
		return "", fmt.Errorf("%s URL takes one host: use redis-sentinel:// or redis-cluster:// to list several", scheme)
	}
	return hosts[0], nil
}

func hostPorts(hosts []string, defaultPort string) ([]string, error) {
	addrs := make([]string, 0, len(hosts))
	for _, h := range hosts {
		addr, _, err := hostPort(h, defaultPort)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// hostPort validates "host[:port]" (IPv6 in brackets) and returns it as
// "host:port" with the default port filled in, and the bare host name.
func hostPort(h, defaultPort string) (addr, host string, err error) {
	if h == "" {
		return "", "", errors.New("missing host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			return "", "", fmt.Errorf("invalid host %q: IPv6 addresses go in brackets, as [::1]:6379", h)
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
	}
	switch {
	case host == "":
		return "", "", fmt.Errorf("invalid host %q: missing host name", h)
	case strings.Contains(host, ":"):
		if net.ParseIP(host) == nil {
			return "", "", fmt.Errorf("invalid host %q: not an IPv6 address", h)
		}
	case !hostnameRE.MatchString(host):
		return "", "", fmt.Errorf("invalid host %q", h)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", "", fmt.Errorf("invalid port in %q: want 1 to 65535", h)
	}
	return net.JoinHostPort(host, port), host, nil
}

func pathDB(path string) (int, error) {
	s := strings.TrimPrefix(path, "/")
	if s == "" {
		return 0, nil
	}
	return parseDB(s)
}

func parseDB(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("database must be a non-negative integer (got %q)", s)
	}
	return int(n), nil
}
