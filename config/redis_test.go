package config

import (
	"crypto/tls"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want asynq.RedisConnOpt
	}{
		{"redis default", "redis://127.0.0.1:6379/0", asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}},
		{"redis no port no db", "redis://cache.internal", asynq.RedisClientOpt{Addr: "cache.internal:6379"}},
		{"redis trailing slash", "redis://cache/", asynq.RedisClientOpt{Addr: "cache:6379"}},
		{"redis db", "redis://cache:6380/7", asynq.RedisClientOpt{Addr: "cache:6380", DB: 7}},
		{"redis password only", "redis://:hunter2@cache/1", asynq.RedisClientOpt{Addr: "cache:6379", Password: "hunter2", DB: 1}},
		{"redis user and password", "redis://app:hunter2@cache:6379/2", asynq.RedisClientOpt{Addr: "cache:6379", Username: "app", Password: "hunter2", DB: 2}},
		{"redis user only", "redis://app@cache", asynq.RedisClientOpt{Addr: "cache:6379", Username: "app"}},
		{"redis escaped password", "redis://app:p%40ss%2Fw%3Ard@cache", asynq.RedisClientOpt{Addr: "cache:6379", Username: "app", Password: "p@ss/w:rd"}},
		{"redis unescaped at in password", "redis://app:p@ss@cache", asynq.RedisClientOpt{Addr: "cache:6379", Username: "app", Password: "p@ss"}},
		{"redis ipv6", "redis://[::1]:6380/3", asynq.RedisClientOpt{Addr: "[::1]:6380", DB: 3}},
		{"redis ipv6 no port", "redis://[fe80::1]", asynq.RedisClientOpt{Addr: "[fe80::1]:6379"}},
		{"redis upper-case scheme", "REDIS://cache", asynq.RedisClientOpt{Addr: "cache:6379"}},
		{
			"rediss", "rediss://app:hunter2@redis.example.com:6380/4",
			asynq.RedisClientOpt{
				Addr: "redis.example.com:6380", Username: "app", Password: "hunter2", DB: 4,
				TLSConfig: &tls.Config{ServerName: "redis.example.com", MinVersion: tls.VersionTLS12},
			},
		},
		{
			"rediss ipv6", "rediss://[2001:db8::1]",
			asynq.RedisClientOpt{Addr: "[2001:db8::1]:6379", TLSConfig: &tls.Config{ServerName: "2001:db8::1", MinVersion: tls.VersionTLS12}},
		},
		{
			"sentinel", "redis-sentinel://app:hunter2@s1:26379,s2:26380,s3/5?master=mymaster&sentinel_password=s3nt",
			asynq.RedisFailoverClientOpt{
				MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26380", "s3:26379"},
				Username: "app", Password: "hunter2", DB: 5, SentinelPassword: "s3nt",
			},
		},
		{
			"sentinel plus spelling", "redis+sentinel://s1?master=m",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:26379"}},
		},
		{
			"sentinel username", "redis-sentinel://s1:1,s2:2?master=m&sentinel_username=su&sentinel_password=sp",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:1", "s2:2"}, SentinelUsername: "su", SentinelPassword: "sp"},
		},
		{
			"cluster", "redis-cluster://app:hunter2@n1:7000,n2:7001,[::1]:7002",
			asynq.RedisClusterClientOpt{Addrs: []string{"n1:7000", "n2:7001", "[::1]:7002"}, Username: "app", Password: "hunter2"},
		},
		{
			"cluster plus spelling default port", "redis+cluster://n1,n2/",
			asynq.RedisClusterClientOpt{Addrs: []string{"n1:6379", "n2:6379"}},
		},
		{"unix", "unix:///var/run/redis/redis.sock", asynq.RedisClientOpt{Network: "unix", Addr: "/var/run/redis/redis.sock"}},
		{"unix db", "unix:///tmp/redis.sock?db=3", asynq.RedisClientOpt{Network: "unix", Addr: "/tmp/redis.sock", DB: 3}},
		{
			"unix credentials", "unix://app:hunter2@/tmp/redis.sock?db=1",
			asynq.RedisClientOpt{Network: "unix", Addr: "/tmp/redis.sock", Username: "app", Password: "hunter2", DB: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRedisURL(tt.url)
			if err != nil {
				t.Fatalf("ParseRedisURL(%q): %v", tt.url, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRedisURL(%q)\n got %#v\nwant %#v", tt.url, got, tt.want)
			}
		})
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	const secret = "hunter2"
	tests := []struct {
		name, url, want string
	}{
		{"empty", "", "not a URL"},
		{"no scheme", "cache:6379", "not a URL"},
		{"no scheme with password", "app:" + secret + "@cache:6379", "not a URL"},
		{"unsupported scheme", "http://cache", `unsupported scheme "http"`},
		{"asynq socket scheme", "redis-socket:///tmp/r.sock", `unsupported scheme "redis-socket"`},
		{"missing host", "redis://:" + secret + "@/0", "missing host"},
		{"two hosts", "redis://:" + secret + "@a,b", "takes one host"},
		{"bad port", "redis://:" + secret + "@cache:abc", `invalid port in "cache:abc"`},
		{"port zero", "redis://cache:0", "invalid port"},
		{"port too big", "redis://cache:65536", "invalid port"},
		{"bad host", "redis://ca$he", "invalid host"},
		{"bare ipv6", "redis://::1", "IPv6"},
		{"bad ipv6", "redis://[zz::1]:6379", "not an IPv6 address"},
		{"db not a number", "redis://:" + secret + "@cache/abc", "database must be a non-negative integer"},
		{"db negative", "redis://cache/-1", "database must be a non-negative integer"},
		{"db two segments", "redis://cache/1/2", "database must be a non-negative integer"},
		{"db too big", "redis://cache/99999999999", "database must be a non-negative integer"},
		{"unknown query", "redis://:" + secret + "@cache?password=" + secret, `unsupported query parameter "password"`},
		{"fragment", "redis://cache#x", "fragment"},
		{"bad escape in password", "redis://app:" + secret + "%zz@cache", "invalid %-escape"},
		{"space in password", "redis://app:" + secret + " x@cache", "invalid userinfo"},
		{"slash in password", "redis://app:" + secret + "/x@cache/0", "percent-encode"},
		{"question mark in password", "redis://app:" + secret + "?x@cache/0", "percent-encode"},
		{"rediss bad port", "rediss://:" + secret + "@cache:x", "invalid port"},
		{"sentinel without master", "redis-sentinel://:" + secret + "@s1,s2", "?master=NAME"},
		{"sentinel empty master", "redis-sentinel://s1?master=", "?master=NAME"},
		{"sentinel empty host", "redis-sentinel://s1,,s2?master=m", "missing host"},
		{"sentinel bad port", "redis-sentinel://s1:x?master=m&sentinel_password=" + secret, "invalid port"},
		{"sentinel bad db", "redis-sentinel://s1/x?master=m", "database must be"},
		{"sentinel unknown query", "redis-sentinel://s1?master=m&db=1", `unsupported query parameter "db"`},
		{"cluster with db", "redis-cluster://:" + secret + "@n1,n2/1", "takes no database"},
		{"cluster bad port", "redis-cluster://n1:70000", "invalid port"},
		{"cluster query", "redis-cluster://n1?master=m", `unsupported query parameter "master"`},
		{"unix with host", "unix://tmp/redis.sock", "must not name a host"},
		{"unix without path", "unix://", "absolute path"},
		{"unix bad db", "unix://:" + secret + "@/tmp/r.sock?db=x", "database must be"},
		{"unix negative db", "unix:///tmp/r.sock?db=-2", "database must be"},
		{"unix unknown query", "unix:///tmp/r.sock?timeout=1", `unsupported query parameter "timeout"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRedisURL(tt.url)
			if err == nil {
				t.Fatalf("ParseRedisURL(%q): no error", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRedisURL(%q) error %q, want it to contain %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseRedisURL(%q) error %q contains the password", tt.url, err)
			}
		})
	}
}

func TestRedisConnOpt(t *testing.T) {
	opt, err := Redis{URL: "redis://cache:6380/2"}.ConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	if want := (asynq.RedisClientOpt{Addr: "cache:6380", DB: 2}); !reflect.DeepEqual(opt, want) {
		t.Errorf("ConnOpt() = %#v, want %#v", opt, want)
	}

	_, err = Redis{URL: "redis://:hunter2@cache/x"}.ConnOpt()
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Var != "REDIS_URL" {
		t.Fatalf("ConnOpt() error = %v, want *Error for REDIS_URL", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q contains the password", err)
	}
}

// TestRedisOpen checks that Open makes the client each URL form calls for.
func TestRedisOpen(t *testing.T) {
	tests := []struct {
		name, url string
		want      string
	}{
		{"server", "redis://127.0.0.1:1/0", "*redis.Client"},
		{"sentinel", "redis-sentinel://127.0.0.1:1,127.0.0.1:2?master=m", "*redis.Client"},
		{"cluster", "redis-cluster://127.0.0.1:1,127.0.0.1:2", "*redis.ClusterClient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, err := Redis{URL: tt.url, Password: "pw"}.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if got := reflect.TypeOf(rdb).String(); got != tt.want {
				t.Errorf("Open(%s) = %s, want %s", tt.url, got, tt.want)
			}
		})
	}
	if _, err := (Redis{URL: "http://x"}).Open(); err == nil {
		t.Error("Open of an http URL: no error")
	}
}
