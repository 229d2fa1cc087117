package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

const testDashboardPassword = "correct-horse-battery"

func dashboardEnv(kv ...string) map[string]string {
	env := map[string]string{"DASHBOARD_USER": "ops", "DASHBOARD_PASSWORD": testDashboardPassword}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func TestLoadDashboard(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Dashboard
		path string
	}{
		{"defaults", dashboardEnv(), Dashboard{Addr: ":8081", RootPath: "/", ReadOnly: true, User: "ops", Password: testDashboardPassword}, ""},
		{
			"all set", dashboardEnv("DASHBOARD_ADDR", "127.0.0.1:9000", "DASHBOARD_ROOT_PATH", "/ops/queues/", "DASHBOARD_READONLY", "false"),
			Dashboard{Addr: "127.0.0.1:9000", RootPath: "/ops/queues/", ReadOnly: false, User: "ops", Password: testDashboardPassword}, "/ops/queues",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadFrom[DashboardEnv](tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got.Dashboard != tt.want {
				t.Errorf("Dashboard = %+v, want %+v", got.Dashboard, tt.want)
			}
			if got.Path() != tt.path {
				t.Errorf("Path() = %q, want %q", got.Path(), tt.path)
			}
		})
	}
}

func TestLoadDashboardErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
		want    string
	}{
		{"no credentials", map[string]string{}, "DASHBOARD_PASSWORD", "never served without authentication"},
		{"no password", map[string]string{"DASHBOARD_USER": "ops"}, "DASHBOARD_PASSWORD", "never served without authentication"},
		{"blank password", dashboardEnv("DASHBOARD_PASSWORD", ""), "DASHBOARD_PASSWORD", "never served without authentication"},
		{"short password", dashboardEnv("DASHBOARD_PASSWORD", "hunter2"), "DASHBOARD_PASSWORD", "at least 12 characters"},
		{"password newline", dashboardEnv("DASHBOARD_PASSWORD", testDashboardPassword+"\n"), "DASHBOARD_PASSWORD", "control characters"},
		{"TLS cert without key", dashboardEnv("DASHBOARD_TLS_CERT_FILE", "/tls/tls.crt"), "DASHBOARD_TLS_KEY_FILE", "must be set with DASHBOARD_TLS_CERT_FILE"},
		{"TLS key without cert", dashboardEnv("DASHBOARD_TLS_KEY_FILE", "/tls/tls.key"), "DASHBOARD_TLS_CERT_FILE", "must be set with DASHBOARD_TLS_KEY_FILE"},
		{"user colon", dashboardEnv("DASHBOARD_USER", "a:b"), "DASHBOARD_USER", "':'"},
		{"root path relative", dashboardEnv("DASHBOARD_ROOT_PATH", "monitoring"), "DASHBOARD_ROOT_PATH", "must be /"},
		{"root path dots", dashboardEnv("DASHBOARD_ROOT_PATH", "/a/../b"), "DASHBOARD_ROOT_PATH", "must be /"},
		{"root path double slash", dashboardEnv("DASHBOARD_ROOT_PATH", "//x"), "DASHBOARD_ROOT_PATH", "must be /"},
		{"root path healthz", dashboardEnv("DASHBOARD_ROOT_PATH", "/healthz"), "DASHBOARD_ROOT_PATH", "/healthz"},
		{"addr", dashboardEnv("DASHBOARD_ADDR", "8081"), "DASHBOARD_ADDR", "host:port"},
		{"readonly", dashboardEnv("DASHBOARD_READONLY", "yes please"), "DASHBOARD_READONLY", "must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFrom[DashboardEnv](tt.env)
			checkError(t, err, tt.wantVar, tt.want)
			if err != nil && strings.Contains(err.Error(), testDashboardPassword) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestRedisPassword(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want asynq.RedisConnOpt
	}{
		{"replaces URL password", "redis://app:old@cache:6380/2", asynq.RedisClientOpt{Addr: "cache:6380", Username: "app", Password: testRedisPassword, DB: 2}},
		{"sentinel data nodes", "redis-sentinel://s1,s2/1?master=q&sentinel_password=sp", asynq.RedisFailoverClientOpt{
			MasterName: "q", SentinelAddrs: []string{"s1:26379", "s2:26379"}, SentinelPassword: "sp", Password: testRedisPassword, DB: 1,
		}},
		{"cluster", "redis-cluster://n1,n2:7001", asynq.RedisClusterClientOpt{Addrs: []string{"n1:6379", "n2:7001"}, Password: testRedisPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadFrom[EnqueueEnv](map[string]string{"REDIS_URL": tt.url, "REDIS_PASSWORD": testRedisPassword})
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.Redis.ConnOpt()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ConnOpt() = %+v, want %+v", got, tt.want)
			}
		})
	}

	_, err := LoadFrom[EnqueueEnv](map[string]string{"REDIS_PASSWORD": testRedisPassword + "\n"})
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Var != "REDIS_PASSWORD" || strings.Contains(err.Error(), testRedisPassword) {
		t.Errorf("REDIS_PASSWORD with a newline: error %v, want an *Error for REDIS_PASSWORD without the value", err)
	}
}
